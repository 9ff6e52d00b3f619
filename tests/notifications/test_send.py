"""``notification_send``: one inbox entry per fact, deliveries after commit, and nothing blocks a decision."""

# ruff: noqa: RUF001 (Russian and Ukrainian texts are expected here)

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction

from aml.notifications.models import Notification, NotificationDelivery
from aml.notifications.services import notification_send
from nexora.accounts.models import ClientProfile
from nexora.accounts.services import account_freeze
from nexora.common.errors import ValidationFailed
from nexora.common.models import StatusChange
from tests.notifications.conftest import work

pytestmark = pytest.mark.django_db

UK_TEXT = "Кошти доступні\n\nПеревірку завершено, кошти доступні на вашому балансі.\n\nСума: 50.00 USD\n"
UK_FOOTER = (
    "\n-- \nВи отримали це повідомлення, бо у вашому акаунті Nexora увімкнено сповіщення. "
    "Налаштування сповіщень: https://pay.example.com/notifications/settings/\n"
)


def send_released(client: ClientProfile, key: str = "case:1:release:1") -> Notification:
    return notification_send(
        client=client,
        event="released",
        params={"amount": Decimal("50.00"), "currency": "USD"},
        dedupe_key=key,
    )


def statuses(notification: Notification) -> dict[str, tuple[str, int]]:
    return {d.channel: (d.status, d.attempts) for d in notification.deliveries.all()}


def test_inbox_entry_now_deliveries_after_commit(make_subscriber, bot, django_capture_on_commit_callbacks):
    client = make_subscriber(language="uk", email="olena@example.com", chat="4242")
    with django_capture_on_commit_callbacks(execute=True):
        notification = send_released(client)
        assert mail.outbox == [] and bot.calls == []  # nothing leaves before the decision commits
        assert statuses(notification) == {"email": ("queued", 0), "telegram": ("queued", 0)}
    assert notification.event == "released" and notification.read_at is None
    assert notification.params == {"amount": "50.00", "currency": "USD"}
    assert statuses(notification) == {"email": ("sent", 1), "telegram": ("sent", 1)}
    assert all(d.sent_at is not None and d.last_error == "" for d in notification.deliveries.all())
    [email] = mail.outbox
    assert (email.subject, email.to, email.body) == (
        "Кошти доступні",
        ["olena@example.com"],
        UK_TEXT + UK_FOOTER,
    )
    assert (
        email.from_email == "Nexora <billing@localhost>"
        and email.extra_headers["Auto-Submitted"] == "auto-generated"
    )
    assert bot.sent() == [{"chat_id": "4242", "text": UK_TEXT, "link_preview_options": {"is_disabled": True}}]
    log = StatusChange.objects.filter(entity="notification_delivery").values_list("from_status", "to_status")
    assert sorted(log) == [("queued", "sent"), ("queued", "sent")]


def test_the_same_fact_twice_notifies_once(make_subscriber, bot, django_capture_on_commit_callbacks):
    client = make_subscriber(email="a@example.com", chat="4242")
    with django_capture_on_commit_callbacks(execute=True):
        first = send_released(client)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = notification_send(
            client=client, event="released", params={"amount": "1"}, dedupe_key="case:1:release:1"
        )
    assert again.pk == first.pk and again.params == {
        "amount": "50.00",
        "currency": "USD",
    }  # the first one stands
    assert callbacks == []  # nothing queued the second time
    assert Notification.objects.count() == 1 and NotificationDelivery.objects.count() == 2
    assert len(mail.outbox) == 1 and len(bot.sent()) == 1
    # Another fact (key) or another event is another notification.
    with django_capture_on_commit_callbacks(execute=True):
        send_released(client, key="case:1:release:2")
        notification_send(client=client, event="account_unfrozen", dedupe_key="case:1:release:1")
    assert Notification.objects.count() == 3 and len(mail.outbox) == 3


@pytest.mark.parametrize(
    ("fields", "email", "with_bot", "channels"),
    [
        ({}, "", True, set()),  # no address, no chat: inbox only
        ({"notify_email": False}, "a@example.com", True, set()),
        ({"telegram_chat_id": "4242", "notify_telegram": False}, "", True, set()),
        ({"telegram_chat_id": "4242", "notify_telegram": True}, "", False, set()),  # no bot token
        ({"telegram_chat_id": "4242", "notify_telegram": True}, "a@example.com", True, {"email", "telegram"}),
    ],
)
def test_channels_follow_the_client_and_the_configuration(
    make_subscriber, settings, bot, fields, email, with_bot, channels
):
    if not with_bot:
        settings.NEXORA_TELEGRAM_BOT_TOKEN = ""
    client = make_subscriber(email=email, **fields)
    notification = send_released(client)
    assert set(notification.deliveries.values_list("channel", flat=True)) == channels
    assert Notification.objects.filter(client=client).count() == 1  # the inbox always has it


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"event": "sanctions_hit"}, "unknown_notification_event"),
        ({"event": "under_review", "params": {"rule": "structuring"}}, "invalid_notification_params"),
        ({"event": "released", "params": {"amount": 50.0}}, "invalid_notification_params"),
        ({"event": "released", "dedupe_key": ""}, "invalid_dedupe_key"),
        ({"event": "released", "dedupe_key": "k" * 201}, "invalid_dedupe_key"),
    ],
)
def test_bad_calls_raise_and_write_nothing(make_subscriber, bot, kwargs, code):
    client = make_subscriber(email="a@example.com", chat="4242")
    with pytest.raises(ValidationFailed) as caught:
        notification_send(client=client, **{"dedupe_key": "k", **kwargs})
    assert caught.value.code == code
    assert Notification.objects.count() == 0 and NotificationDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_decision_notifies_nobody(make_subscriber, bot):
    client = make_subscriber(email="a@example.com", chat="4242")
    with pytest.raises(RuntimeError), transaction.atomic():
        send_released(client)
        raise RuntimeError("the decision failed")
    assert Notification.objects.count() == 0 and mail.outbox == [] and bot.calls == []


@pytest.mark.django_db(transaction=True)
def test_a_failing_channel_never_blocks_the_decision(make_subscriber, bot, settings):
    settings.EMAIL_BACKEND = "tests.notifications.mail_backends.DownBackend"
    client = make_subscriber(email="a@example.com", chat="4242")
    with transaction.atomic():  # the staff action: freeze, and tell the client, in one transaction
        account_freeze(profile=client, reason="review")
        notification = notification_send(client=client, event="account_frozen", dedupe_key="case:9:freeze")
    assert ClientProfile.objects.get(pk=client.pk).status == "frozen"  # the decision stands
    assert statuses(notification) == {"email": ("queued", 1), "telegram": ("sent", 1)}
    email = notification.deliveries.get(channel="email")
    assert email.last_error == "SMTP: SMTPServerDisconnected"
    # The worker retries with exponential backoff until the attempts are used up.
    assert work(email.pk) == ("failed", [60, 120, 240, 480])
    assert statuses(notification) == {"email": ("failed", 6), "telegram": ("sent", 1)}
    assert len(bot.sent()) == 1
