"""Linking a client's Telegram chat, and the client's notification preferences.

The flow: the client asks for a code in the client area (``telegram_link_code_create``: random,
single use, valid ``NEXORA_TELEGRAM_LINK_TTL_S``, only its SHA-256 stored; asking again replaces an
unused one) and opens the deep link ``https://t.me/<bot>?start=<code>``, so Telegram sends the bot
``/start <code>``. The backend hears it in one of two ways, and both call the same
``telegram_update_handle``:

* the webhook (``POST /telegram/webhook/<secret>/``), which answers with the reply as a Bot API
  method in the response body (no outbound call from the web process);
* ``telegram_updates_poll`` (the ``notifications.telegram_poll`` task), for deployments without a
  public URL: ``getUpdates`` from the persisted offset, one poller at a time, replies sent with
  ``sendMessage`` after the new offset is committed.

Each update is handled once (``TelegramUpdate`` is unique on ``update_id``). ``telegram_chat_link``
screens the change first (``account_changed`` with ``field="telegram"``): ``REFUSE`` refuses it
and nothing is written. Replies are neutral and never say why a link was refused. Only private
chats can be linked: a notification must not land in a group.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from aml.notifications.channels import telegram_message
from aml.notifications.models import TelegramLinkCode, TelegramPollState, TelegramUpdate, link_code_hash
from aml.notifications.telegram import BotApiError, BotApiUnavailable, bot_call, bot_configured
from nexora.accounts.models import ClientProfile
from nexora.common.errors import Conflict, NexoraError, PermissionDenied, ValidationFailed
from payments.hooks import AccountChanged, Verdict, screen

logger = logging.getLogger(__name__)
CODE_BYTES = 9  # 12 URL-safe characters; a deep-link payload may hold up to 64 of [A-Za-z0-9_-]
CODE_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
STALE_OFFSET = timedelta(days=7)  # after a quiet week Telegram may number updates afresh
KEEP_RECORDS = timedelta(days=7)  # Telegram keeps an undelivered update for 24 hours at most
LANGUAGES = {"en", "ru", "uk"}

REPLIES = {
    "linked": _("Your Nexora account is now linked. We will send your notifications to this chat."),
    "invalid": _("This code is not valid or has expired. Please get a new one in the notification "
                 "settings of your client area."),
    "refused": _("We could not link this chat. Please contact support."),
    "help": _("To receive notifications here, open the notification settings in your client area and "
              "follow the Telegram link shown there."),
    "private_only": _("Please write to the bot in a private chat."),
}  # fmt: skip


@dataclass(frozen=True)
class BotReply:
    chat_id: str
    text: str

    def payload(self) -> dict[str, object]:
        return telegram_message(self.chat_id, self.text)


def telegram_available() -> bool:
    return bot_configured() and bool(settings.NEXORA_TELEGRAM_BOT_USERNAME)


def telegram_deep_link(code: str) -> str:
    return f"https://t.me/{settings.NEXORA_TELEGRAM_BOT_USERNAME}?start={code}"


# --- the code and the link ------------------------------------------------------------------------


@transaction.atomic
def telegram_link_code_create(*, client: ClientProfile) -> tuple[TelegramLinkCode, str]:
    """A new one-time code for ``client`` (any unused one is dropped); returns the row and the code."""
    if not telegram_available():
        raise Conflict("Telegram notifications are not configured.", code="telegram_unavailable")
    TelegramLinkCode.objects.filter(client=client, used_at__isnull=True).delete()
    code = secrets.token_urlsafe(CODE_BYTES)
    expires_at = timezone.now() + timedelta(seconds=settings.NEXORA_TELEGRAM_LINK_TTL_S)
    row = TelegramLinkCode.objects.create(
        client=client, code_hash=link_code_hash(code), expires_at=expires_at
    )
    return row, code


def _code_invalid() -> ValidationFailed:
    return ValidationFailed("This link code is not valid or has expired.", code="telegram_code_invalid")


@transaction.atomic
def telegram_chat_link(*, code: str, chat_id: str) -> ClientProfile:
    """Link ``chat_id`` to the client whose unused, unexpired ``code`` this is (screened first)."""
    if not CODE_SHAPE.fullmatch(code):
        raise _code_invalid()
    now = timezone.now()
    row = (
        TelegramLinkCode.objects.select_for_update(of=("self",)).select_related("client")
        .filter(code_hash=link_code_hash(code), used_at__isnull=True, expires_at__gt=now).first()
    )  # fmt: skip
    if row is None:
        raise _code_invalid()
    client = row.client
    fact = AccountChanged(client_id=client.pk, field="telegram", new_value=chat_id)
    if screen("account_changed", fact) == Verdict.REFUSE:
        raise PermissionDenied("This chat cannot be linked to the account.", code="telegram_link_refused")
    TelegramLinkCode.objects.filter(pk=row.pk).update(used_at=now)
    fields = {"telegram_chat_id": chat_id, "notify_telegram": True, "updated_at": now}
    ClientProfile.objects.filter(pk=client.pk).update(**fields)
    for name, value in fields.items():
        setattr(client, name, value)
    return client


def telegram_chat_unlink(*, client: ClientProfile) -> ClientProfile:
    fields = {"telegram_chat_id": "", "notify_telegram": False, "updated_at": timezone.now()}
    ClientProfile.objects.filter(pk=client.pk).update(**fields)
    for name, value in fields.items():
        setattr(client, name, value)
    return client


def notification_settings_update(*, client: ClientProfile, email: bool, telegram: bool) -> ClientProfile:
    """E-mail and Telegram on or off. Telegram stays off while no chat is linked; without an e-mail
    address the e-mail choice is kept as it was (the page cannot offer it)."""
    fields = {
        "notify_email": email if client.user.email else client.notify_email,
        "notify_telegram": telegram and bool(client.telegram_chat_id),
        "updated_at": timezone.now(),
    }
    ClientProfile.objects.filter(pk=client.pk).update(**fields)
    for name, value in fields.items():
        setattr(client, name, value)
    return client


# --- updates from the bot -------------------------------------------------------------------------


def _reply(chat_id: str, key: str, language: str) -> BotReply:
    with translation.override(language):
        return BotReply(chat_id, str(REPLIES[key]))


def _sender_language(message: Mapping[str, Any]) -> str:
    sender = message.get("from")
    code = str(sender.get("language_code") or "") if isinstance(sender, dict) else ""
    code = code.split("-")[0].lower()
    return code if code in LANGUAGES else "en"


def _link_reply(code: str, chat_id: str, language: str) -> BotReply:
    try:
        client = telegram_chat_link(code=code, chat_id=chat_id)
    except NexoraError as exc:
        return _reply(chat_id, "refused" if exc.code == "telegram_link_refused" else "invalid", language)
    return _reply(chat_id, "linked", client.language)


def _message_reply(message: Any) -> BotReply | None:
    if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
        return None
    chat_id = message["chat"].get("id")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        return None
    language = _sender_language(message)
    if message["chat"].get("type") != "private":
        return _reply(str(chat_id), "private_only", language)
    text = message.get("text")
    text = text if isinstance(text, str) else ""
    command, _space, argument = text.strip().partition(" ")
    if command.split("@")[0] != "/start" or not argument.strip():
        return _reply(str(chat_id), "help", language)
    return _link_reply(argument.strip(), str(chat_id), language)


def telegram_update_handle(*, update: Mapping[str, Any]) -> BotReply | None:
    """Handle one Bot API update once; returns the reply to send, if any."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise ValidationFailed("A Telegram update needs an integer update_id.", code="invalid_update")
    with transaction.atomic():
        _record, created = TelegramUpdate.objects.get_or_create(update_id=update_id)
        return _message_reply(update.get("message")) if created else None


# --- polling ----------------------------------------------------------------------------------------


def _poll_state_lock() -> TelegramPollState | None:
    TelegramPollState.objects.get_or_create(pk=1)
    try:
        with transaction.atomic():
            return TelegramPollState.objects.select_for_update(nowait=True).get(pk=1)
    except DatabaseError:  # another poller holds it: its round covers ours
        return None


def _poll_request(state: TelegramPollState, limit: int) -> dict[str, Any]:
    request: dict[str, Any] = {"limit": limit, "timeout": 0, "allowed_updates": ["message"]}
    if state.offset is not None and timezone.now() - state.updated_at < STALE_OFFSET:
        request["offset"] = state.offset
    return request


def _handle_safely(update: Any) -> BotReply | None:
    try:
        return telegram_update_handle(update=update if isinstance(update, dict) else {})
    except Exception:  # one broken update must not stop the queue behind it
        logger.exception("Telegram update could not be handled and is skipped")
        return None


def _reply_send(reply: BotReply) -> None:
    try:
        bot_call("sendMessage", reply.payload())
    except (BotApiError, BotApiUnavailable) as exc:
        logger.warning("Telegram reply not sent: %s", exc)


def telegram_updates_poll(*, limit: int = 100) -> int:
    """One ``getUpdates`` round from the persisted offset; returns how many updates it handled."""
    with transaction.atomic():
        state = _poll_state_lock()
        if state is None:
            return 0
        updates = bot_call("getUpdates", _poll_request(state, limit))
        if not isinstance(updates, list):
            raise BotApiUnavailable("getUpdates: the result is not a list")
        replies = [reply for reply in map(_handle_safely, updates) if reply is not None]
        ids = [u["update_id"] for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        if ids:
            state.offset = max(ids) + 1
            state.save(update_fields=["offset", "updated_at"])
    for reply in replies:
        _reply_send(reply)
    return len(updates)


def telegram_records_prune(*, now: Any = None) -> int:
    """Forget handled update ids and spent codes once Telegram can no longer send them again."""
    cutoff = (now or timezone.now()) - KEEP_RECORDS
    updates, _ = TelegramUpdate.objects.filter(received_at__lt=cutoff).delete()
    codes, _ = TelegramLinkCode.objects.filter(expires_at__lt=cutoff).delete()
    return updates + codes
