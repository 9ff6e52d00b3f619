"""A minimal Telegram Bot API client: one function, ``bot_call``, and the two ways it fails.

Requests are ``POST {NEXORA_TELEGRAM_API_URL}/bot<token>/<method>`` with a JSON body and a timeout
(``NEXORA_TELEGRAM_TIMEOUT_S``). The Bot API answers ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": S}}``:

* ``BotApiError`` carries such a refusal (status, description, ``retry_after`` on 429);
* ``BotApiUnavailable`` is everything transient below it: connection errors, timeouts, a body that
  is not the Bot API's JSON (a proxy's 502 page, say).

The token is in the URL path, so it must never reach a log or an error text: errors here are built
from the status and description only (exception chains that hold the URL are cut), and
``token_filter_install`` redacts it from httpx's own request log lines.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)
REDACTED = "<bot-token>"


class BotApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        self.status, self.description, self.retry_after = status, description, retry_after
        super().__init__(f"{status} {description}")


class BotApiUnavailable(Exception):
    """The Bot API could not be reached or answered something else than its JSON."""


def bot_configured() -> bool:
    return bool(settings.NEXORA_TELEGRAM_BOT_TOKEN)


def redact(text: str) -> str:
    token = settings.NEXORA_TELEGRAM_BOT_TOKEN
    return text.replace(token, REDACTED) if token else text


def _refusal(response: httpx.Response, data: Any) -> BotApiError:
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    retry_after = parameters.get("retry_after")
    return BotApiError(
        status=int(data.get("error_code") or response.status_code),
        description=redact(str(data.get("description") or ""))[:200],
        retry_after=int(retry_after) if isinstance(retry_after, int) else None,
    )


def bot_call(method: str, payload: dict[str, Any], *, timeout: float | None = None) -> Any:
    """Call ``method`` and return its ``result``; raise ``BotApiError`` or ``BotApiUnavailable``."""
    token = settings.NEXORA_TELEGRAM_BOT_TOKEN
    if not token:
        raise BotApiUnavailable("Telegram is not configured (NEXORA_TELEGRAM_BOT_TOKEN is empty)")
    url = f"{settings.NEXORA_TELEGRAM_API_URL.rstrip('/')}/bot{token}/{method}"
    try:
        response = httpx.post(url, json=payload, timeout=timeout or settings.NEXORA_TELEGRAM_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise BotApiUnavailable(f"{method}: {type(exc).__name__}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or "ok" not in data:
        raise BotApiUnavailable(f"{method}: HTTP {response.status_code} without a Bot API answer")
    if data["ok"] is True:
        return data.get("result")
    raise _refusal(response, data)


class TokenFilter(logging.Filter):
    """Rewrites a record whose text holds the bot token (httpx logs each request's full URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        token = settings.NEXORA_TELEGRAM_BOT_TOKEN
        if token:
            message = record.getMessage()
            if token in message:
                record.msg, record.args = message.replace(token, REDACTED), ()
        return True


_filter = TokenFilter()


def token_filter_install() -> None:
    for name in ("httpx", "httpcore"):
        log = logging.getLogger(name)
        if _filter not in log.filters:
            log.addFilter(_filter)
