"""Client-area pages (inbox, notification settings) and the Telegram webhook.

Pages are thin: parse, call one service or selector, render. They are for clients only (staff get a
403, anonymous visitors the login page) and every form posts with a CSRF token. Another client's
notification id is a 404. Notifications are rendered in the page's language, which the client
chooses in the header; e-mail and Telegram use the profile's language.

The webhook is the one view without CSRF (Telegram cannot send a token). It is found only under
its secret path, and refuses a request whose ``X-Telegram-Bot-Api-Secret-Token`` header is not the
same secret (``setWebhook`` registers it; see docs/operations.md). Its answer carries the reply as a
Bot API method call, which Telegram performs, so the web process makes no outbound request.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from aml.notifications.events import event_render
from aml.notifications.linking import (
    notification_settings_update,
    telegram_available,
    telegram_chat_unlink,
    telegram_deep_link,
    telegram_link_code_create,
    telegram_update_handle,
)
from aml.notifications.selectors import notifications_for_client, unread_count
from aml.notifications.services import notification_mark_read, notifications_mark_all_read
from nexora.accounts.models import ClientProfile
from nexora.common.errors import NexoraError, NotFound
from payments.views import client_required

PER_PAGE = 20


def _page_number(raw: Any) -> int:
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return 1


def _inbox_url(page: int = 1) -> str:
    url = reverse("notifications:inbox")
    return f"{url}?page={page}" if page > 1 else url


@client_required
@require_GET
def inbox(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    page = Paginator(notifications_for_client(client=client), PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"n": n, "text": event_render(event=n.event, params=n.params)} for n in page]
    context = {"page": page, "rows": rows, "unread": unread_count(client_id=client.pk)}
    return render(request, "notifications/inbox.html", context)


@client_required
@require_POST
def mark_read(request: HttpRequest, client: ClientProfile, notification_id: int) -> HttpResponse:
    try:
        notification_mark_read(client=client, notification_id=notification_id)
    except NotFound:
        raise Http404 from None
    return redirect(_inbox_url(_page_number(request.POST.get("page"))))


@client_required
@require_POST
def mark_all_read(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    notifications_mark_all_read(client=client)
    messages.success(request, gettext("All notifications are marked as read."))
    return redirect(_inbox_url())


# --- settings ------------------------------------------------------------------------------------


def _settings_context(client: ClientProfile, **extra: Any) -> dict[str, Any]:
    return {
        "profile": client,
        "email": client.user.email,
        "telegram_available": telegram_available(),
        "bot": settings.NEXORA_TELEGRAM_BOT_USERNAME,
        "linked": bool(client.telegram_chat_id),
        **extra,
    }


@client_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    if request.method == "GET":
        return render(request, "notifications/settings.html", _settings_context(client))
    notification_settings_update(
        client=client,
        email=request.POST.get("notify_email") == "on",
        telegram=request.POST.get("notify_telegram") == "on",
    )
    messages.success(request, gettext("Your notification settings have been saved."))
    return redirect("notifications:settings")


@client_required
@require_POST
def telegram_link(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    try:
        _row, code = telegram_link_code_create(client=client)
    except NexoraError as exc:
        context = _settings_context(client, link_error=gettext("Telegram notifications are not available."))
        return render(request, "notifications/settings.html", context, status=exc.status)
    # Rendered, not redirected: the code exists only in this response (the database keeps a hash).
    context = _settings_context(
        client,
        code=code,
        deep_link=telegram_deep_link(code),
        ttl_minutes=settings.NEXORA_TELEGRAM_LINK_TTL_S // 60,
    )
    return render(request, "notifications/settings.html", context)


@client_required
@require_POST
def telegram_unlink(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    telegram_chat_unlink(client=client)
    messages.success(request, gettext("Telegram has been unlinked."))
    return redirect("notifications:settings")


# --- the Telegram webhook ------------------------------------------------------------------------


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    expected = settings.NEXORA_TELEGRAM_WEBHOOK_SECRET
    if not expected or not _same(secret, expected):
        raise Http404
    if not _same(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), expected):
        return _error("permission_denied", "The secret token header is missing or wrong.", 403)
    try:
        update = json.loads(request.body)
    except ValueError:
        return _error("malformed_request", "The body is not JSON.", 400)
    if not isinstance(update, dict):
        return _error("invalid_update", "A Telegram update is a JSON object.", 400)
    try:
        reply = telegram_update_handle(update=update)
    except NexoraError as exc:
        return JsonResponse({"error": exc.as_dict()}, status=exc.status)
    return JsonResponse({"method": "sendMessage", **reply.payload()} if reply else {})
