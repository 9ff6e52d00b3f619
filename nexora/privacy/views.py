"""The client's privacy pages: profile, copy of their data, erasure request.

Thin views: parse, call one service, render. Service errors are shown translated by their code
(``ERROR_TEXTS``) with HTTP 400/403/409 and nothing written. Only clients reach these pages
(staff have no client data); another client's request id does not exist for them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from nexora.accounts.decorators import client_required
from nexora.accounts.models import ClientProfile
from nexora.accounts.security import SecurityKind, security_event_log
from nexora.common.errors import NexoraError
from nexora.privacy.exports import export_build, export_csv, export_json
from nexora.privacy.forms import ProfileForm
from nexora.privacy.selectors import erasures_for_client
from nexora.privacy.services.erasure import (
    erasure_pending_for,
    erasure_preview,
    erasure_request_create,
    erasure_withdraw,
    kept_display,
)
from nexora.privacy.services.profile import client_profile_update

ERROR_TEXTS = {
    "invalid_email": _("Enter a valid e-mail address."),
    "too_long": _("This is too long."),
    "unknown_language": _("Choose one of the languages offered."),
    "change_refused": _("This change cannot be made right now. Please contact support."),
    "erasure_pending": _("Your erasure request is already waiting for an answer."),
    "account_closed": _("This account is closed."),
    "erasure_answered": _("This request was already answered."),
}


def _error_status(exc: NexoraError) -> int:
    return 400 if exc.status < 403 else exc.status


@client_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    user = client.user
    initial = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language": client.language,
    }
    form = ProfileForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                client_profile_update(profile=client, request=request, **form.cleaned_data)
            except NexoraError as exc:
                field = next(iter(exc.fields), None)
                form.add_error(
                    field if field in form.fields else None, str(ERROR_TEXTS.get(exc.code, exc.message))
                )
                status = _error_status(exc)
            else:
                messages.success(request, translation.gettext("Your profile was saved."))
                response = redirect("privacy:profile")
                # The interface follows the language chosen for messages (a cookie, as set_language does).
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME, client.language, max_age=365 * 24 * 3600, samesite="Lax"
                )
                return response
        else:
            status = 400
    return render(request, "privacy/profile.html", {"form": form, "client": client}, status=status)


@client_required
@require_GET
def privacy_page(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    context = {
        "pending": erasure_pending_for(client=client),
        "requests": erasures_for_client(client=client)[:10],
        "preview": kept_display(erasure_preview(client=client)),
    }
    return render(request, "privacy/privacy.html", context)


@client_required
@require_GET
def export_download(request: HttpRequest, client: ClientProfile, fmt: str) -> HttpResponse:
    document = export_build(client=client)
    security_event_log(user=client.user, kind=SecurityKind.DATA_EXPORTED, request=request, detail=fmt)
    if fmt == "csv":
        response = HttpResponse(export_csv(document), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(export_json(document), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="nexora-data-{client.pk}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@client_required
@require_POST
def erasure_create(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    try:
        erasure_request_create(client=client, request=request)
    except NexoraError as exc:
        messages.error(request, str(ERROR_TEXTS.get(exc.code, exc.message)))
    else:
        text = translation.gettext("Your erasure request was sent. We answer within %(days)s days.")
        messages.success(request, text % {"days": settings.NEXORA_ERASURE_DUE_DAYS})
    return redirect("privacy:privacy")


@client_required
@require_POST
def erasure_withdraw_view(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    pending = erasure_pending_for(client=client)
    if pending is not None:
        try:
            erasure_withdraw(erasure=pending, client=client)
        except NexoraError as exc:
            messages.error(request, str(ERROR_TEXTS.get(exc.code, exc.message)))
        else:
            messages.success(request, translation.gettext("Your erasure request was withdrawn."))
    return redirect("privacy:privacy")
