"""Linking a Telegram chat: one-time codes, the webhook, polling, screening, and neutral replies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from aml.notifications.linking import (
    telegram_chat_link,
    telegram_link_code_create,
    telegram_records_prune,
    telegram_updates_poll,
)
from aml.notifications.models import TelegramLinkCode, TelegramPollState, TelegramUpdate, link_code_hash
from aml.notifications.tasks import telegram_poll
from nexora.accounts.models import ClientProfile
from nexora.common.errors import ValidationFailed
from payments.hooks import AccountChanged, Verdict, screener_register, screener_unregister
from tests.notifications.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db

HOOK = f"/telegram/webhook/{WEBHOOK_SECRET}/"
LINKED = {
    "en": "Your Nexora account is now linked. We will send your notifications to this chat.",
    "uk": "Ваш акаунт Nexora прив'язано. Ми надсилатимемо сповіщення в цей чат.",
}
INVALID_RU = "Этот код недействителен или устарел. Получите новый в настройках уведомлений в личном кабинете."
REFUSED_EN = "We could not link this chat. Please contact support."
HELP_EN = (
    "To receive notifications here, open the notification settings in your client area and follow the "
    "Telegram link shown there."
)


def update(
    update_id: int, text: str, *, chat: int = 777, kind: str = "private", lang: str = "en"
) -> dict[str, Any]:
    sender = {"id": chat, "is_bot": False, "first_name": "Olena", "language_code": lang}
    return {
        "update_id": update_id,
        "message": {"message_id": 5, "date": 1767225600, "chat": {"id": chat, "type": kind},
                    "from": sender, "text": text},
    }  # fmt: skip


def reply(chat: str, text: str) -> dict[str, Any]:
    return {
        "method": "sendMessage",
        "chat_id": chat,
        "text": text,
        "link_preview_options": {"is_disabled": True},
    }


@pytest.fixture
def hook(client, settings, bot):
    settings.NEXORA_TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET

    def post(body: Any, *, secret: str = WEBHOOK_SECRET, path: str = HOOK) -> Any:
        return client.post(
            path, body, content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret
        )

    return post


@pytest.fixture
def screened():
    """Screeners of ``account_changed`` see every fact; ``verdict[0]`` is what they answer."""
    facts: list[AccountChanged] = []
    verdict = [Verdict.ALLOW]

    def screener(fact: AccountChanged) -> Verdict:
        facts.append(fact)
        return verdict[0]

    screener_register("account_changed", screener)
    yield facts, verdict
    screener_unregister("account_changed", screener)


def linked(profile: ClientProfile) -> tuple[str, bool]:
    profile.refresh_from_db()
    return profile.telegram_chat_id, profile.notify_telegram


# --- codes ----------------------------------------------------------------------------------------


def test_a_code_is_random_short_lived_and_stored_hashed(make_subscriber, bot):
    client = make_subscriber()
    row, code = telegram_link_code_create(client=client)
    assert len(code) == 12 and code.replace("-", "").replace("_", "").isalnum()
    assert row.code_hash == link_code_hash(code) and code not in row.code_hash
    assert timedelta(seconds=899) < row.expires_at - timezone.now() <= timedelta(seconds=900)
    again, second = telegram_link_code_create(client=client)
    assert second != code
    assert list(TelegramLinkCode.objects.values_list("pk", flat=True)) == [again.pk]  # the old one is gone
    with pytest.raises(ValidationFailed):
        telegram_chat_link(code=code, chat_id="777")


def test_no_code_without_a_bot(make_subscriber, settings):
    settings.NEXORA_TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(Exception) as caught:
        telegram_link_code_create(client=make_subscriber())
    assert getattr(caught.value, "code", "") == "telegram_unavailable"
    assert TelegramLinkCode.objects.count() == 0


# --- the webhook ----------------------------------------------------------------------------------


def test_start_with_a_code_links_the_chat_and_replies(make_subscriber, hook, bot, screened):
    facts, _ = screened
    client = make_subscriber(language="uk")
    _row, code = telegram_link_code_create(client=client)
    response = hook(update(1001, f"/start {code}"))
    assert response.status_code == 200
    assert response.json() == reply("777", LINKED["uk"])  # in the client's language, as a webhook reply
    assert linked(client) == ("777", True)
    assert facts == [AccountChanged(client_id=client.pk, field="telegram", new_value="777")]
    assert TelegramLinkCode.objects.get().used_at is not None
    assert bot.calls == []  # the web process made no outbound call
    # The same update again (Telegram redelivers) is answered with nothing and changes nothing.
    assert hook(update(1001, f"/start {code}")).json() == {}
    # The code was single use.
    assert hook(update(1002, f"/start {code}", chat=888, lang="ru")).json() == reply("888", INVALID_RU)
    assert linked(client) == ("777", True)


@pytest.mark.parametrize(("age", "text"), [(timedelta(minutes=16), None), (None, "/start not-a-code")])
def test_expired_or_unknown_codes_link_nothing(make_subscriber, hook, age, text):
    client = make_subscriber()
    row, code = telegram_link_code_create(client=client)
    if age:
        TelegramLinkCode.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = hook(update(1003, text or f"/start {code}", lang="ru-RU"))
    assert response.json() == reply("777", INVALID_RU)
    assert linked(client) == ("", False)


def test_a_refusing_screener_refuses_neutrally_and_writes_nothing(make_subscriber, hook, screened):
    facts, verdict = screened
    verdict[0] = Verdict.REFUSE
    client = make_subscriber()
    _row, code = telegram_link_code_create(client=client)
    assert hook(update(1004, f"/start {code}")).json() == reply("777", REFUSED_EN)
    assert linked(client) == ("", False)
    assert TelegramLinkCode.objects.get().used_at is None and len(facts) == 1
    verdict[0] = Verdict.REVIEW  # review lets the change through (the AML side opens a case)
    assert hook(update(1005, f"/start {code}")).json() == reply("777", LINKED["en"])
    assert linked(client) == ("777", True)


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (update(1006, "/start"), reply("777", HELP_EN)),
        (update(1007, "hello"), reply("777", HELP_EN)),
        (update(1008, "/start abc", chat=-100123, kind="group"),
         reply("-100123", "Please write to the bot in a private chat.")),
        ({"update_id": 1009, "edited_message": {}}, {}),
    ],
)  # fmt: skip
def test_other_messages_get_help_and_link_nothing(make_subscriber, hook, body, answer):
    client = make_subscriber()
    telegram_link_code_create(client=client)
    assert hook(body).json() == answer
    assert linked(client) == ("", False)


def test_the_webhook_refuses_strangers(make_subscriber, hook, settings):
    client = make_subscriber()
    _row, code = telegram_link_code_create(client=client)
    body = update(1010, f"/start {code}")
    assert hook(body, path="/telegram/webhook/wrong-secret/").status_code == 404
    refused = hook(body, secret="wrong-secret")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert hook("not json").status_code == 400 and hook([1, 2]).status_code == 400
    bad = hook({"update_id": "1010"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_update"
    assert TelegramUpdate.objects.count() == 0 and linked(client) == ("", False)
    settings.NEXORA_TELEGRAM_WEBHOOK_SECRET = ""  # no secret configured: no webhook at all
    assert hook(body, secret="").status_code == 404
    assert TelegramUpdate.objects.count() == 0 and linked(client) == ("", False)


def test_the_webhook_takes_only_post(client, settings):
    settings.NEXORA_TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET
    assert client.get(HOOK).status_code == 405


# --- polling --------------------------------------------------------------------------------------


def test_polling_links_replies_and_persists_the_offset(make_subscriber, bot):
    client = make_subscriber(language="uk")
    _row, code = telegram_link_code_create(client=client)
    bot.script(
        "getUpdates",
        (200, {"ok": True, "result": [update(500, "hi", chat=9), update(501, f"/start {code}")]}),
    )
    assert telegram_updates_poll() == 2
    assert bot.calls == [
        ("getUpdates", {"limit": 100, "timeout": 0, "allowed_updates": ["message"]}),
        ("sendMessage", {"chat_id": "9", "text": HELP_EN, "link_preview_options": {"is_disabled": True}}),
        (
            "sendMessage",
            {"chat_id": "777", "text": LINKED["uk"], "link_preview_options": {"is_disabled": True}},
        ),
    ]
    assert linked(client) == ("777", True)
    assert TelegramPollState.objects.get().offset == 502
    bot.calls.clear()
    assert telegram_updates_poll() == 0
    assert bot.calls == [
        ("getUpdates", {"limit": 100, "timeout": 0, "allowed_updates": ["message"], "offset": 502})
    ]


def test_polling_after_a_quiet_week_asks_without_an_offset(bot):
    TelegramPollState.objects.create(pk=1, offset=9000)
    TelegramPollState.objects.filter(pk=1).update(updated_at=timezone.now() - timedelta(days=8))
    bot.script("getUpdates", (200, {"ok": True, "result": [update(12, "hi")]}))
    assert telegram_updates_poll() == 1
    assert bot.calls[0] == ("getUpdates", {"limit": 100, "timeout": 0, "allowed_updates": ["message"]})
    assert TelegramPollState.objects.get().offset == 13


def test_an_update_polled_again_is_not_handled_twice(make_subscriber, bot):
    TelegramUpdate.objects.create(update_id=600)  # handled before (by the webhook, or a crashed round)
    bot.script("getUpdates", (200, {"ok": True, "result": [update(600, "hi"), update(601, "hi")]}))
    assert telegram_updates_poll() == 2
    assert [body["chat_id"] for body in bot.sent()] == ["777"]


def test_a_broken_update_does_not_stop_the_queue(bot, monkeypatch):
    from aml.notifications import linking

    real = linking._message_reply

    def explode_on_first(message: Any) -> Any:
        if message and message.get("text") == "boom":
            raise RuntimeError("unexpected")
        return real(message)

    monkeypatch.setattr(linking, "_message_reply", explode_on_first)
    bot.script("getUpdates", (200, {"ok": True, "result": [update(700, "boom"), update(701, "hi")]}))
    assert telegram_updates_poll() == 2
    assert len(bot.sent()) == 1 and TelegramPollState.objects.get().offset == 702
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [701]


def test_the_poll_task_is_off_with_a_webhook_or_without_a_bot(bot, settings):
    settings.NEXORA_TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET
    assert telegram_poll.delay().get() == 0
    settings.NEXORA_TELEGRAM_WEBHOOK_SECRET = ""
    settings.NEXORA_TELEGRAM_BOT_TOKEN = ""
    assert telegram_poll.delay().get() == 0
    assert bot.calls == []


def test_the_poll_task_survives_a_bot_api_outage(bot):
    bot.script(
        "getUpdates", (409, {"ok": False, "error_code": 409, "description": "Conflict: webhook is active"})
    )
    assert telegram_poll.delay().get() == 0
    assert not TelegramPollState.objects.filter(offset__isnull=False).exists()  # nothing moved


def test_old_records_are_pruned(make_subscriber, bot):
    old = timezone.now() - timedelta(days=8)
    TelegramUpdate.objects.create(update_id=1)
    TelegramUpdate.objects.filter(update_id=1).update(received_at=old)
    TelegramUpdate.objects.create(update_id=2)
    row, _code = telegram_link_code_create(client=make_subscriber())
    TelegramLinkCode.objects.filter(pk=row.pk).update(expires_at=old)
    assert telegram_records_prune() == 2
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [2]
    assert TelegramLinkCode.objects.count() == 0
