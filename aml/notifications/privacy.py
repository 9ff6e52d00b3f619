"""Notifications in the personal-data registry (``nexora.privacy.registry``).

What is kept and why: a notification tells the client about a fact that is kept elsewhere for as
long as the law wants it (the top-up, the deposit, the ledger, the case). The message itself is
communication, and the delivery log (which channel, when, whether it arrived) is a technical log.
So both follow the **technical log period** (12 months, ``technical_log``; the policy's section 8),
counted from when the notification was created, not the account's life: an inbox that keeps
years of "your top-up was credited" would keep what no purpose needs. On erasure they go at once
(``erase``): nothing obliges us to keep them. The one-time Telegram link codes (only their hash) go
the same way.

The delivery rows follow their notification's clock (``notification__created_at``): a delivery
is created a moment after its notification, and with its own clock a cut-off falling in between
would try to delete a notification whose delivery (PROTECT) is still there. For the same reason
deliveries are registered, and so purged, before notifications.

The client's copy holds their notifications (event, texts in their language, the details they were
shown, read state) and the delivery log of each (channel, status, attempts, times; not the last
error, which is about our mail server or the Bot API, not about them).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext_lazy as _

from aml.notifications.events import event_render
from aml.notifications.models import Notification, NotificationDelivery
from nexora.accounts.models import ClientProfile
from nexora.privacy.registry import Action, OnErasure, Row, category_register


def notification_rows(client: ClientProfile) -> Iterable[Row]:
    for notification in Notification.objects.filter(client=client).order_by("created_at", "id"):
        params, language = notification.params, client.language
        rendered = event_render(event=notification.event, params=params, language=language)
        yield {
            "id": notification.pk,
            "created_at": notification.created_at,
            "event": notification.event,
            "title": rendered.title,
            "body": rendered.body,
            "details": dict(rendered.details),
            "read_at": notification.read_at,
        }


def delivery_rows(client: ClientProfile) -> Iterable[Row]:
    deliveries = NotificationDelivery.objects.filter(notification__client=client).order_by("created_at", "id")
    for delivery in deliveries:
        yield {
            "notification": delivery.notification_id,
            "channel": delivery.channel,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "created_at": delivery.created_at,
            "sent_at": delivery.sent_at,
        }


def categories_register() -> None:
    common = {"period": "technical_log", "action": Action.DELETE, "on_erasure": OnErasure.ERASE}
    category_register(
        name="notifications.deliveries", model="notifications.NotificationDelivery",
        owner="notification__client", clock="notification__created_at",
        title=_("Delivery log of our e-mails and Telegram messages to you"), export=delivery_rows, **common,
    )  # fmt: skip
    category_register(
        name="notifications.inbox", model="notifications.Notification", owner="client", clock="created_at",
        title=_("Your notifications"), export=notification_rows, **common,
    )  # fmt: skip
    category_register(
        name="notifications.telegram_codes", model="notifications.TelegramLinkCode", owner="client",
        clock="created_at", title=_("Codes for linking Telegram"), **common,
    )  # fmt: skip
