"""Celery tasks of notifications: thin, take ids, idempotent, time-limited.

* ``notifications.deliver(delivery_id)`` sends one delivery (``delivery_attempt``). A delivery that
  is already sent or failed is left alone, so a duplicate or late task does nothing. A transient
  failure is recorded by the service, which also decides when the attempts are used up; the task
  only retries with the countdown it is given (exponential backoff, or Telegram's ``retry_after``).
* ``notifications.deliveries_requeue`` (beat) queues deliveries whose task was lost, and prunes
  Telegram records that can no longer be replayed.
* ``notifications.telegram_poll`` (beat, polling mode only) runs one ``getUpdates`` round; a Bot
  API that is down is logged and the next beat tries again.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from aml.notifications.linking import telegram_records_prune, telegram_updates_poll
from aml.notifications.models import NotificationDelivery
from aml.notifications.services import DeliveryDeferred, deliveries_requeue_due, delivery_attempt
from aml.notifications.telegram import BotApiError, BotApiUnavailable, bot_configured

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="notifications.deliver",
    max_retries=50,  # a safety net only: the service counts attempts (NEXORA_NOTIFY_MAX_ATTEMPTS)
    soft_time_limit=30,
    time_limit=45,
    acks_late=True,
)
def deliver(self: Any, delivery_id: int) -> str:
    try:
        delivery = delivery_attempt(delivery_id=delivery_id)
    except NotificationDelivery.DoesNotExist:
        return "missing"
    except DeliveryDeferred as deferred:
        raise self.retry(countdown=deferred.countdown) from None
    return str(delivery.status)


@shared_task(name="notifications.deliveries_requeue", soft_time_limit=50, time_limit=60)
def deliveries_requeue() -> dict[str, int]:
    return {"requeued": deliveries_requeue_due(), "pruned": telegram_records_prune()}


@shared_task(name="notifications.telegram_poll", soft_time_limit=25, time_limit=30)
def telegram_poll() -> int:
    if not bot_configured() or settings.NEXORA_TELEGRAM_WEBHOOK_SECRET:
        return 0  # no bot, or the webhook receives the updates (getUpdates would answer 409)
    try:
        return telegram_updates_poll()
    except (BotApiError, BotApiUnavailable) as exc:
        logger.warning("Telegram polling failed: %s", exc)
        return 0
