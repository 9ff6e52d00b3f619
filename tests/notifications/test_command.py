"""``manage.py telegram_bot``: exact Bot API calls, never the token in its output; beat in each mode."""

from __future__ import annotations

import runpy
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aml.notifications.models import TelegramPollState
from tests.notifications.conftest import BOT_TOKEN, BOT_USERNAME, WEBHOOK_SECRET

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("telegram_bot", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_info_checks_the_token_and_the_username(bot, settings):
    me = {"id": 42, "is_bot": True, "first_name": "Nexora", "username": BOT_USERNAME}
    hook = {"url": "", "has_custom_certificate": False, "pending_update_count": 3}
    bot.script("getMe", (200, {"ok": True, "result": me}), (200, {"ok": True, "result": me}))
    bot.script("getWebhookInfo", (200, {"ok": True, "result": hook}), (200, {"ok": True, "result": hook}))
    out, err = run("info")
    assert (
        out == f"bot: @{BOT_USERNAME} (id 42)\nwebhook: (none: polling)\npending updates: 3\n" and err == ""
    )
    settings.NEXORA_TELEGRAM_BOT_USERNAME = "someone_else_bot"
    out, err = run("info")
    assert "deep links would be wrong" in err
    assert BOT_TOKEN not in out + err


def test_set_webhook_registers_the_secret_url(bot, settings):
    settings.NEXORA_TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET
    out, _ = run("set-webhook")
    assert bot.calls == [
        ("setWebhook", {"url": f"https://pay.example.com/telegram/webhook/{WEBHOOK_SECRET}/",
                        "secret_token": WEBHOOK_SECRET, "allowed_updates": ["message"]}),
    ]  # fmt: skip
    assert WEBHOOK_SECRET not in out and BOT_TOKEN not in out
    run("delete-webhook")
    assert bot.calls[-1] == ("deleteWebhook", {})


def test_errors_are_reported_without_the_token(bot, settings):
    with pytest.raises(CommandError, match="NEXORA_TELEGRAM_WEBHOOK_SECRET is not set"):
        run("set-webhook")
    bot.script("getMe", (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}))
    with pytest.raises(CommandError) as caught:
        run("info")
    assert str(caught.value) == "Bot API: 401 Unauthorized"
    settings.NEXORA_TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="NEXORA_TELEGRAM_BOT_TOKEN is not set"):
        run("info")


def test_poll_once(bot):
    bot.script("getUpdates", (200, {"ok": True, "result": [{"update_id": 77, "message": None}]}))
    out, _ = run("poll", "--once")
    assert out == "handled 1 update(s)\n" and TelegramPollState.objects.get().offset == 78


def _beat(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    """The beat schedule the settings module builds from ``env`` (evaluated afresh, not Django's copy)."""
    for name in ("NEXORA_TELEGRAM_BOT_TOKEN", "NEXORA_TELEGRAM_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return sorted(runpy.run_path(str(ROOT / "nexora" / "settings.py"))["CELERY_BEAT_SCHEDULE"])


def test_beat_polls_only_in_polling_mode(monkeypatch):
    assert "notifications-telegram-poll" not in _beat(monkeypatch)  # no bot
    assert "notifications-telegram-poll" in _beat(monkeypatch, NEXORA_TELEGRAM_BOT_TOKEN="1:x")
    webhook = {"NEXORA_TELEGRAM_BOT_TOKEN": "1:x", "NEXORA_TELEGRAM_WEBHOOK_SECRET": "s"}
    assert "notifications-telegram-poll" not in _beat(monkeypatch, **webhook)
    assert "notifications-requeue" in _beat(monkeypatch)
