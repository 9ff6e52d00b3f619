"""Delivering: Telegram against a stand-in Bot API, e-mail through Django's backend, the delivery log.

Deliveries are created by ``notification_send`` without running the on-commit callbacks, then run
by ``work`` as a worker would (each retry after the countdown the task asked for).
"""

# ruff: noqa: RUF001 (Russian and Ukrainian texts are expected here)

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from aml.notifications import channels
from aml.notifications.models import NotificationDelivery
from aml.notifications.services import (
    DeliveryDeferred,
    deliveries_requeue_due,
    delivery_attempt,
    delivery_retry,
    delivery_transition,
    notification_send,
)
from nexora.accounts.models import ClientProfile
from nexora.common.errors import InvalidTransition
from nexora.common.models import StatusChange
from tests.notifications import mail_backends
from tests.notifications.conftest import BOT_TOKEN, work

pytestmark = pytest.mark.django_db

TOPUP = "8f6b2c1e-4a1d-4c3b-9a57-1f2e3d4c5b6a"
RU_SEEN = (
    "Мы видим ваш платёж\n\n"
    "Ваш платёж появился в блокчейне. Мы зачислим его на баланс, как только сеть его подтвердит.\n\n"
    "Сумма: 12.34 USDT\nСеть: USDT (TRON, TRC-20)\n\n"
    f"Открыть в личном кабинете: https://pay.example.com/topups/{TOPUP}/\n"
)
RATE_LIMITED = (
    429,
    {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
     "parameters": {"retry_after": 7}},
)  # fmt: skip
BLOCKED = (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})


def queued(client: ClientProfile, channel: str, *, key: str = "deposit:1") -> NotificationDelivery:
    """A ``topup_seen`` notification whose deliveries are queued (the on-commit hooks did not run)."""
    params = {"amount": "12.34", "asset": "USDT", "network": "USDT (TRON, TRC-20)", "topup": TOPUP}
    notification = notification_send(client=client, event="topup_seen", params=params, dedupe_key=key)
    return notification.deliveries.get(channel=channel)


def reload(delivery: NotificationDelivery) -> NotificationDelivery:
    return NotificationDelivery.objects.get(pk=delivery.pk)


def message(chat: str, text: str) -> dict[str, object]:
    return {"chat_id": chat, "text": text, "link_preview_options": {"is_disabled": True}}


# --- Telegram -------------------------------------------------------------------------------------


def test_telegram_sends_the_exact_message_in_the_clients_language(make_subscriber, bot):
    delivery = queued(make_subscriber(language="ru", chat="4242"), "telegram")
    assert work(delivery.pk) == ("sent", [])
    assert bot.calls == [("sendMessage", message("4242", RU_SEEN))]
    delivery = reload(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")


def test_429_waits_for_retry_after_then_sends_once(make_subscriber, bot):
    bot.script("sendMessage", RATE_LIMITED)
    delivery = queued(make_subscriber(language="ru", chat="4242"), "telegram")
    before = timezone.now()
    with pytest.raises(DeliveryDeferred) as deferred:
        delivery_attempt(delivery_id=delivery.pk)
    assert deferred.value.countdown == 7
    waiting = reload(delivery)
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert waiting.last_error == "Bot API 429: Too Many Requests: retry after 7"
    assert before + timedelta(seconds=7) <= waiting.next_attempt_at <= timezone.now() + timedelta(seconds=7)
    assert work(delivery.pk) == ("sent", [])
    assert bot.sent() == [message("4242", RU_SEEN)] * 2  # the same request, once refused, once delivered
    sent = reload(delivery)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, "")


def test_the_task_retries_after_retry_after(make_subscriber, bot):
    bot.script("sendMessage", RATE_LIMITED, RATE_LIMITED)
    delivery = queued(make_subscriber(chat="4242"), "telegram")
    assert work(delivery.pk) == ("sent", [7, 7])
    assert len(bot.sent()) == 3 and reload(delivery).attempts == 3


def test_403_blocked_marks_failed_unlinks_and_does_not_retry(make_subscriber, bot):
    client = make_subscriber(chat="4242")
    same_chat = make_subscriber(chat="4242")  # a second account the same person linked
    other = make_subscriber(chat="5151")
    bot.script("sendMessage", BLOCKED)
    delivery = queued(client, "telegram")
    stale = queued(same_chat, "telegram")  # queued before the bot learnt it was blocked
    assert work(delivery.pk) == ("failed", [])
    failed = reload(delivery)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "Bot API 403: Forbidden: bot was blocked by the user"
    for profile in (client, same_chat):
        profile.refresh_from_db()
        assert (profile.telegram_chat_id, profile.notify_telegram) == ("", False)
    other.refresh_from_db()
    assert other.telegram_chat_id == "5151"
    assert len(bot.sent()) == 1
    # The next notification has no Telegram delivery at all; a queued one fails without a request.
    later = notification_send(client=client, event="released", dedupe_key="case:1")
    assert not later.deliveries.exists()
    assert work(stale.pk) == ("failed", []) and len(bot.sent()) == 1
    assert reload(stale).last_error == "Telegram is off, not configured or not linked"


def test_400_chat_not_found_fails_without_retry_and_keeps_the_link(make_subscriber, bot):
    bot.script(
        "sendMessage", (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    )
    client = make_subscriber(chat="4242")
    delivery = queued(client, "telegram")
    assert work(delivery.pk) == ("failed", [])
    assert reload(delivery).last_error == "Bot API 400: Bad Request: chat not found"
    client.refresh_from_db()
    assert client.telegram_chat_id == "4242"


def test_server_errors_back_off_exponentially_then_fail(make_subscriber, bot):
    bot.script("sendMessage", *[(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})] * 6)
    delivery = queued(make_subscriber(chat="4242"), "telegram")
    assert work(delivery.pk) == ("failed", [30, 60, 120, 240, 480])
    failed = reload(delivery)
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 6, "Bot API 502: Bad Gateway")
    assert len(bot.sent()) == 6
    log = StatusChange.objects.filter(entity="notification_delivery", entity_id=str(delivery.pk))
    assert list(log.values_list("from_status", "to_status", "reason")) == [
        ("queued", "failed", "Bot API 502: Bad Gateway")
    ]


def test_a_proxy_page_instead_of_json_is_transient(make_subscriber, bot):
    bot.script("sendMessage", (502, b"<html><body>502 Bad Gateway</body></html>"))
    delivery = queued(make_subscriber(chat="4242"), "telegram")
    assert work(delivery.pk) == ("sent", [30])
    assert reload(delivery).attempts == 2


def test_the_token_never_reaches_a_log_or_the_delivery_log(make_subscriber, bot, settings, caplog):
    caplog.set_level(logging.DEBUG)
    bot.script(
        "sendMessage", (401, {"ok": False, "error_code": 401, "description": f"Unauthorized {BOT_TOKEN}"})
    )
    settings.NEXORA_NOTIFY_MAX_ATTEMPTS = 3
    client = make_subscriber(chat="4242")
    assert work(queued(client, "telegram").pk) == ("sent", [30])
    settings.NEXORA_TELEGRAM_API_URL = "http://127.0.0.1:9"  # nothing listens: connection refused
    unreachable = queued(client, "telegram", key="deposit:2")
    assert work(unreachable.pk) == ("failed", [30, 60])
    assert reload(unreachable).last_error == "sendMessage: ConnectError"
    errors = list(NotificationDelivery.objects.values_list("last_error", flat=True))
    errors += list(StatusChange.objects.values_list("reason", flat=True))
    assert "bot<bot-token>/sendMessage" in caplog.text  # httpx's request line, redacted
    assert all(BOT_TOKEN not in text for text in [caplog.text, *errors])


def test_a_sent_delivery_is_never_sent_again(make_subscriber, bot):
    delivery = queued(make_subscriber(chat="4242"), "telegram")
    assert work(delivery.pk) == ("sent", [])
    assert work(delivery.pk) == ("sent", [])  # a duplicate or late task
    assert len(bot.sent()) == 1 and reload(delivery).attempts == 1
    assert work(10**9) == ("missing", [])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_in_flight_is_skipped_by_a_second_worker(make_subscriber, bot):
    client = make_subscriber(chat="4242")
    notification = notification_send(client=client, event="released", dedupe_key="case:1")
    NotificationDelivery.objects.filter(notification=notification).delete()  # the hooks already sent it
    delivery = NotificationDelivery.objects.create(notification=notification, channel="telegram")
    locked, release = threading.Event(), threading.Event()

    def first_worker() -> None:
        with transaction.atomic():
            NotificationDelivery.objects.select_for_update().get(pk=delivery.pk)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=first_worker)
    thread.start()
    assert locked.wait(10)
    sent_before = len(bot.sent())
    assert delivery_attempt(delivery_id=delivery.pk).status == "queued"  # busy: left to its worker
    assert len(bot.sent()) == sent_before
    release.set()
    thread.join(10)
    assert delivery_attempt(delivery_id=delivery.pk).status == "sent"
    assert len(bot.sent()) == sent_before + 1


def test_a_send_that_hits_the_time_limit_counts_as_an_attempt(make_subscriber, bot, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    real, calls = channels.telegram_deliver, []

    def hung_once(delivery: NotificationDelivery) -> channels.Outcome:
        calls.append(delivery.pk)
        if len(calls) == 1:
            raise SoftTimeLimitExceeded()
        return real(delivery)

    monkeypatch.setitem(channels.SENDERS, "telegram", hung_once)
    delivery = queued(make_subscriber(chat="4242"), "telegram")
    assert work(delivery.pk) == ("sent", [30])
    assert reload(delivery).attempts == 2


# --- e-mail ---------------------------------------------------------------------------------------


def test_email_in_the_clients_language(make_subscriber):
    delivery = queued(make_subscriber(language="ru", email="ivan@example.com"), "email")
    assert work(delivery.pk) == ("sent", [])
    [email] = mail.outbox
    assert email.subject == "Мы видим ваш платёж" and email.to == ["ivan@example.com"]
    assert email.body == RU_SEEN + (
        "\n-- \nВы получили это сообщение, потому что в вашем аккаунте Nexora включены уведомления. "
        "Настройки уведомлений: https://pay.example.com/notifications/settings/\n"
    )


def test_a_refused_address_fails_at_once(make_subscriber, settings):
    settings.EMAIL_BACKEND = "tests.notifications.mail_backends.RefusingBackend"
    mail_backends.attempts.clear()
    delivery = queued(make_subscriber(email="gone@example.com"), "email")
    assert work(delivery.pk) == ("failed", [])
    failed = reload(delivery)
    assert (failed.attempts, failed.last_error) == (1, "the mail server refused the recipient address")
    assert mail_backends.attempts == ["gone@example.com"]


def test_a_client_who_turned_email_off_meanwhile_gets_nothing(make_subscriber):
    client = make_subscriber(email="a@example.com")
    delivery = queued(client, "email")
    ClientProfile.objects.filter(pk=client.pk).update(notify_email=False)
    assert work(delivery.pk) == ("failed", [])
    assert reload(delivery).last_error == "e-mail notifications are off or the account has no address"
    assert mail.outbox == []


# --- the log: requeue and retry -------------------------------------------------------------------


def test_the_sweeper_queues_lost_deliveries_only(make_subscriber):
    client = make_subscriber(email="a@example.com")
    lost = queued(client, "email")
    fresh = queued(client, "email", key="deposit:2")
    NotificationDelivery.objects.filter(pk=lost.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=6)
    )
    assert deliveries_requeue_due() == 1
    assert (reload(lost).status, reload(fresh).status) == ("sent", "queued")
    assert len(mail.outbox) == 1


def test_staff_can_queue_a_failed_delivery_again(
    make_subscriber, bot, make_staff, django_capture_on_commit_callbacks
):
    bot.script(
        "sendMessage",
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}),
    )
    delivery = queued(make_subscriber(chat="4242"), "telegram")
    assert work(delivery.pk) == ("failed", [])
    admin = make_staff("admin")
    with django_capture_on_commit_callbacks(execute=True):
        delivery_retry(delivery=reload(delivery), actor=admin)
    assert reload(delivery).status == "sent"
    log = StatusChange.objects.filter(entity="notification_delivery", entity_id=str(delivery.pk)).order_by(
        "id"
    )
    assert [(c.from_status, c.to_status, c.actor_id) for c in log] == [
        ("queued", "failed", None), ("failed", "queued", admin.pk), ("queued", "sent", None),
    ]  # fmt: skip
    with pytest.raises(InvalidTransition):
        delivery_transition(reload(delivery), to="queued")
