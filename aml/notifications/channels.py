"""The outside channels: which ones a client has, and sending one delivery through each.

A channel applies when the client wants it and it can reach them: e-mail when ``notify_email`` is
on and the user has an address; Telegram when a bot token is configured, a chat is linked and
``notify_telegram`` is on. ``channels_for`` is asked when a notification is created; the sender
asks again at delivery time, because the client may have changed their mind in between.

Each sender renders the notification in the client's language and returns an ``Outcome``:

* ``SENT``;
* ``RETRY``: a transient failure (SMTP or network error, timeout, Bot API 5xx, 429 with its
  ``retry_after``, a token the operator must fix); the task tries again with backoff;
* ``FAILED``: retrying cannot help (the client turned the channel off, the address is refused,
  the bot was blocked: on 403 the chat is also unlinked, so nothing more is sent there).
"""

from __future__ import annotations

import enum
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from aml.notifications.events import Rendered, event_render, site_url
from aml.notifications.models import Channel, NotificationDelivery
from aml.notifications.telegram import BotApiError, BotApiUnavailable, bot_call, bot_configured, redact
from nexora.accounts.models import ClientProfile

logger = logging.getLogger(__name__)
TELEGRAM_MAX_TEXT = 4096  # sendMessage's limit


class Result(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    result: Result
    error: str = ""
    retry_after: int | None = None


SENT = Outcome(Result.SENT)


def email_applies(client: ClientProfile) -> bool:
    return client.notify_email and bool(client.user.email)


def telegram_applies(client: ClientProfile) -> bool:
    return bot_configured() and client.notify_telegram and bool(client.telegram_chat_id)


def channels_for(client: ClientProfile) -> list[str]:
    applies = {Channel.EMAIL: email_applies, Channel.TELEGRAM: telegram_applies}
    return [channel for channel, test in applies.items() if test(client)]


def message_text(rendered: Rendered, *, footer: bool) -> str:
    """The plain-text message (e-mail body, Telegram text) in the active language."""
    lines = [rendered.title, "", rendered.body]
    if rendered.details:
        lines += ["", *(f"{label}: {value}" for label, value in rendered.details)]
    if rendered.url:
        lines += ["", f"{gettext('Open in the client area')}: {rendered.url}"]
    if footer:
        settings_url = site_url(reverse("notifications:settings"))
        lines += ["", "-- ", gettext(
            "You receive this message because notifications are on in your Nexora account. "
            "Notification settings: %(url)s"
        ) % {"url": settings_url}]  # fmt: skip
    return "\n".join(lines) + "\n"


def _compose(delivery: NotificationDelivery, *, footer: bool) -> tuple[Rendered, str]:
    """The notification and its message text, in the client's language (as it is now)."""
    notification = delivery.notification
    language = notification.client.language
    rendered = event_render(event=notification.event, params=notification.params, language=language)
    with translation.override(language):
        return rendered, message_text(rendered, footer=footer)


# --- e-mail -----------------------------------------------------------------------------------------


def email_deliver(delivery: NotificationDelivery) -> Outcome:
    client = delivery.notification.client
    if not email_applies(client):
        return Outcome(Result.FAILED, "e-mail notifications are off or the account has no address")
    rendered, body = _compose(delivery, footer=True)
    message = EmailMessage(
        subject=rendered.title, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[client.user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )  # fmt: skip
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused:
        return Outcome(Result.FAILED, "the mail server refused the recipient address")
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused connections and timeouts
        return Outcome(Result.RETRY, f"SMTP: {type(exc).__name__}")
    return SENT


# --- Telegram ---------------------------------------------------------------------------------------


def telegram_message(chat_id: str, text: str) -> dict[str, object]:
    """The exact ``sendMessage`` body: plain text (nothing to escape), no link previews."""
    return {
        "chat_id": chat_id,
        "text": text[:TELEGRAM_MAX_TEXT],
        "link_preview_options": {"is_disabled": True},
    }


def telegram_chat_forget(chat_id: str) -> int:
    """Unlink ``chat_id`` from every client (the bot was blocked there); returns how many."""
    count = ClientProfile.objects.filter(telegram_chat_id=chat_id).update(
        telegram_chat_id="", notify_telegram=False
    )
    logger.info("Telegram chat unlinked from %s client(s): the bot can no longer write there", count)
    return count


def _telegram_refusal(exc: BotApiError, chat_id: str) -> Outcome:
    error = f"Bot API {exc.status}: {exc.description}"
    if exc.status == 429:
        return Outcome(Result.RETRY, error, retry_after=exc.retry_after)
    if exc.status == 403:  # blocked by the user, user deactivated, kicked from the chat
        telegram_chat_forget(chat_id)
        return Outcome(Result.FAILED, error)
    if exc.status == 400:  # chat not found, message malformed: the same request fails again
        return Outcome(Result.FAILED, error)
    return Outcome(Result.RETRY, error)  # 401/404 (token), 5xx: the operator or Telegram fixes it


def telegram_deliver(delivery: NotificationDelivery) -> Outcome:
    client = delivery.notification.client
    if not telegram_applies(client):
        return Outcome(Result.FAILED, "Telegram is off, not configured or not linked")
    _rendered, text = _compose(delivery, footer=False)
    try:
        bot_call("sendMessage", telegram_message(client.telegram_chat_id, text))
    except BotApiError as exc:
        return _telegram_refusal(exc, client.telegram_chat_id)
    except BotApiUnavailable as exc:
        return Outcome(Result.RETRY, redact(str(exc)))
    return SENT


SENDERS: dict[str, Callable[[NotificationDelivery], Outcome]] = {
    Channel.EMAIL: email_deliver,
    Channel.TELEGRAM: telegram_deliver,
}
