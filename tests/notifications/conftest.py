"""Fixtures of the notification tests: a stand-in Bot API, clients on each channel, task retries.

``bot`` is a loopback HTTP server (``tests.fake_http.LocalServer``) answering as the Telegram Bot
API does: ``POST /bot<token>/<method>`` with a JSON body, ``{"ok": true, "result": ...}`` or the
documented error shape. Tests script answers per method (``bot.script("sendMessage", (429, {...}))``)
and read back every request the code made (``bot.calls``), with its exact JSON.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from celery.exceptions import Retry

from aml.notifications.tasks import deliver
from nexora.accounts.models import ClientProfile
from tests.fake_http import LocalServer

BOT_TOKEN = "123456789:AAH-test-token-never-logged_xyz"
BOT_USERNAME = "nexora_test_bot"
WEBHOOK_SECRET = "hook-secret_0123456789"


@dataclass
class FakeBot:
    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() of each call
    scripted: dict[str, deque[tuple[int, Any]]] = field(default_factory=lambda: defaultdict(deque))
    wrong_token: int = 0
    messages: itertools.count = field(default_factory=lambda: itertools.count(1))

    def script(self, method: str, *answers: tuple[int, Any]) -> None:
        self.scripted[method].extend(answers)

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [body for name, body in self.calls if name == method]

    def _default(self, method: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method == "sendMessage":
            chat = {"id": int(body["chat_id"]), "type": "private"}
            message = {
                "message_id": next(self.messages),
                "date": 1767225600,
                "chat": chat,
                "text": body["text"],
            }
            return 200, {"ok": True, "result": message}
        if method == "getUpdates":
            return 200, {"ok": True, "result": []}
        return 200, {"ok": True, "result": True}

    def respond(self, verb: str, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, Any]:
        prefix, _, method = path.rpartition("/")
        if prefix != f"/bot{BOT_TOKEN}":
            self.wrong_token += 1
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        body = orjson.loads(raw) if raw else {}
        self.calls.append((method, body))
        self.times.append(time.monotonic())
        if self.scripted[method]:
            return self.scripted[method].popleft()
        return self._default(method, body)


@pytest.fixture
def bot(settings: Any) -> Iterator[FakeBot]:
    fake = FakeBot()
    with LocalServer(fake.respond) as server:
        fake.url = server.url
        settings.NEXORA_TELEGRAM_API_URL = server.url
        settings.NEXORA_TELEGRAM_BOT_TOKEN = BOT_TOKEN
        settings.NEXORA_TELEGRAM_BOT_USERNAME = BOT_USERNAME
        settings.NEXORA_TELEGRAM_TIMEOUT_S = 5.0
        yield fake


@pytest.fixture(autouse=True)
def site(settings: Any) -> None:
    settings.NEXORA_SITE_URL = "https://pay.example.com"
    settings.NEXORA_TELEGRAM_WEBHOOK_SECRET = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def make_subscriber(make_client: Callable[..., ClientProfile]) -> Callable[..., ClientProfile]:
    """A client with an e-mail address and, if ``chat`` is given, a linked Telegram chat."""

    def make(*, language: str = "en", email: str = "", chat: str = "", **fields: Any) -> ClientProfile:
        profile = make_client(language=language)
        profile.user.email = email
        profile.user.save(update_fields=["email"])
        if chat:
            fields = {"telegram_chat_id": chat, "notify_telegram": True, **fields}
        if fields:
            ClientProfile.objects.filter(pk=profile.pk).update(**fields)
        return ClientProfile.objects.select_related("user").get(pk=profile.pk)

    return make


def work(delivery_id: int) -> tuple[str, list[float | None]]:
    """Run ``notifications.deliver`` as a worker would: each retry after the last (eager tasks raise
    ``Retry`` instead of scheduling it). Returns the final result and the countdown of every retry."""
    countdowns: list[float | None] = []
    while True:
        try:
            return deliver.apply(args=[delivery_id], retries=len(countdowns)).get(), countdowns
        except Retry as retry:
            countdowns.append(retry.when)
