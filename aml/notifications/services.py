"""Notification services: tell a client something, deliver it, keep the inbox's read state.

``notification_send`` is the one entry point for every other module (the deposit listeners here,
the AML engine, the review dashboard)::

    notification_send(client=profile, event="documents_requested",
                      params={"due_date": date(2026, 5, 1), "link": "/reviews/42/"},
                      dedupe_key=f"case:{case.pk}:documents:{request.pk}")

* ``event`` is a code of the catalogue in ``aml.notifications.events`` (``topup_seen``,
  ``topup_credited``, ``under_review``, ``released``, ``documents_requested``, ``refund_sent``,
  ``account_frozen``, ``account_unfrozen``, ``account_terminated``, ``statement_received``);
  ``params`` are the catalogue's optional, client-known values (amount, currency/asset, network,
  topup, link, due_date). Texts are neutral and fixed: no rule, score, list or reason can reach
  the client (invariant 8). An unknown event or parameter raises ``ValidationFailed``: that is a
  bug in the caller, not a runtime condition.
* ``dedupe_key`` names the fact (``deposit:17``, ``case:4:release:2``): the notification is unique
  per (client, event, dedupe key), so calling again (a retried task, a second announcement)
  returns the first notification and queues nothing.
* Call it inside your transaction: the notification commits or rolls back with your decision.
  Deliveries are queued with ``transaction.on_commit``, and a channel that is down only ever
  shows up in the delivery log; ``notification_send`` never raises because of it.

Delivery (``delivery_attempt``, run by the ``notifications.deliver`` task) locks the delivery row
(``SKIP LOCKED``: a duplicate task finds it busy and leaves), sends it once, and records the
outcome: ``sent``; ``failed`` (permanent, or ``NEXORA_NOTIFY_MAX_ATTEMPTS`` used up); or still
``queued`` with the attempt counted and ``next_attempt_at`` set, after which the task retries with
that countdown (exponential backoff, or Telegram's ``retry_after``). ``deliveries_requeue_due``
(beat) queues again any delivery whose task was lost (broker down at commit, worker killed), and
``delivery_retry`` puts a failed one back in the queue (admin action).
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import Any

from celery.exceptions import Retry, SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aml.notifications.channels import SENDERS, Outcome, Result, channels_for
from aml.notifications.events import event_get, params_clean
from aml.notifications.models import DeliveryStatus, Notification, NotificationDelivery
from aml.notifications.selectors import notification_for_client
from nexora.accounts.models import ClientProfile
from nexora.common.errors import ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply

logger = logging.getLogger(__name__)
S = DeliveryStatus
DELIVERY_TRANSITIONS: TransitionTable = {
    S.QUEUED: frozenset({S.SENT, S.FAILED}),
    S.FAILED: frozenset({S.QUEUED}),
    S.SENT: frozenset(),
}
BACKOFF_BASE_S, BACKOFF_MAX_S = 30, 3600
REQUEUE_GRACE = timedelta(minutes=5)


class DeliveryDeferred(Exception):
    """A transient failure was recorded; the task should try again in ``countdown`` seconds."""

    def __init__(self, delivery_id: int, countdown: int, error: str) -> None:
        self.delivery_id, self.countdown, self.error = delivery_id, countdown, error
        super().__init__(f"delivery {delivery_id} deferred {countdown}s: {error}")


def delivery_transition(
    delivery: NotificationDelivery, *, to: str, reason: str = "", actor: Any = None, **fields: Any
) -> NotificationDelivery:
    return transition_apply(
        delivery, table=DELIVERY_TRANSITIONS, to=to, entity="notification_delivery", actor=actor,
        reason=reason, extra_fields=fields,
    )  # fmt: skip


def delivery_enqueue(delivery_id: int, countdown: int | None = None) -> None:
    """Queue the delivery task. A broker that is down is logged, never raised: the sweeper retries."""
    from aml.notifications.tasks import deliver

    try:
        deliver.apply_async(args=[delivery_id], countdown=countdown)
    except Retry:  # tasks run in-process (no broker): the attempt is recorded, the sweeper retries it
        logger.info("notification delivery %s deferred; the sweeper will queue it again", delivery_id)
    except Exception:
        logger.warning("notification delivery %s not queued now; the sweeper will queue it", delivery_id)


# --- sending --------------------------------------------------------------------------------------


def _deliveries_queue(notification: Notification) -> None:
    for channel in channels_for(notification.client):
        delivery = NotificationDelivery.objects.create(notification=notification, channel=channel)
        transaction.on_commit(functools.partial(delivery_enqueue, delivery.pk), robust=True)


def notification_send(
    *, client: ClientProfile, event: str, params: dict[str, Any] | None = None, dedupe_key: str
) -> Notification:
    """Tell ``client`` about ``event`` once per ``dedupe_key``: inbox now, e-mail/Telegram after commit."""
    event_get(event)
    clean = params_clean(params)
    if not dedupe_key or len(dedupe_key) > 200:
        raise ValidationFailed("A dedupe key of 1-200 characters is required.", code="invalid_dedupe_key")
    with transaction.atomic():
        notification, created = Notification.objects.get_or_create(
            client=client, event=event, dedupe_key=dedupe_key, defaults={"params": clean}
        )
        if created:
            _deliveries_queue(notification)
    return notification


# --- delivering -----------------------------------------------------------------------------------


def retry_countdown(attempts: int, retry_after: int | None = None) -> int:
    """Seconds before the next try: Telegram's ``retry_after`` if given, else 30 s doubling, capped."""
    if retry_after is not None and retry_after > 0:
        return min(retry_after, BACKOFF_MAX_S)
    return min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


def _record(delivery: NotificationDelivery, outcome: Outcome) -> int | None:
    """Store the outcome of one attempt; returns the retry countdown when the delivery stays queued."""
    now, attempts, error = timezone.now(), delivery.attempts + 1, outcome.error[:300]
    if outcome.result is Result.SENT:
        delivery_transition(delivery, to=S.SENT, reason="sent", attempts=attempts, sent_at=now, last_error="")
        return None
    if outcome.result is Result.FAILED or attempts >= settings.NEXORA_NOTIFY_MAX_ATTEMPTS:
        delivery_transition(delivery, to=S.FAILED, reason=error, attempts=attempts, last_error=error)
        return None
    countdown = retry_countdown(attempts, outcome.retry_after)
    fields = {
        "attempts": attempts,
        "last_error": error,
        "next_attempt_at": now + timedelta(seconds=countdown),
    }
    NotificationDelivery.objects.filter(pk=delivery.pk).update(**fields, updated_at=now)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return countdown


def _claim(delivery_id: int) -> NotificationDelivery | None:
    # Lock only the delivery row: the client's profile must stay writable during a slow send.
    rows = NotificationDelivery.objects.select_for_update(skip_locked=True, of=("self",))
    return rows.select_related("notification__client__user").filter(pk=delivery_id).first()


def _send(delivery: NotificationDelivery) -> Outcome:
    try:
        return SENDERS[delivery.channel](delivery)
    except SoftTimeLimitExceeded:  # hung past its own timeouts: count it as a failed try, keep the row
        return Outcome(Result.RETRY, "the send took longer than the task's time limit")


def delivery_attempt(*, delivery_id: int) -> NotificationDelivery:
    """Send a queued delivery once and record how it went; ``DeliveryDeferred`` asks for a retry."""
    with transaction.atomic():
        delivery = _claim(delivery_id)
        if delivery is None:  # another worker holds it (or it does not exist: .get raises)
            return NotificationDelivery.objects.get(pk=delivery_id)
        if delivery.status != S.QUEUED:
            return delivery
        outcome = _send(delivery)
        countdown = _record(delivery, outcome)
    if countdown is not None:
        raise DeliveryDeferred(delivery.pk, countdown, delivery.last_error)
    return delivery


@transaction.atomic
def delivery_retry(*, delivery: NotificationDelivery, actor: Any = None) -> NotificationDelivery:
    """Put a failed delivery back in the queue with a fresh budget of attempts."""
    delivery_transition(
        delivery, to=S.QUEUED, reason="queued again by staff", actor=actor, attempts=0,
        next_attempt_at=timezone.now(),
    )  # fmt: skip
    transaction.on_commit(functools.partial(delivery_enqueue, delivery.pk), robust=True)
    return delivery


def deliveries_requeue_due(*, now: Any = None, limit: int = 500) -> int:
    """Queue again the deliveries whose task should have run by now but did not (lost messages)."""
    now = now or timezone.now()
    due = NotificationDelivery.objects.filter(status=S.QUEUED, next_attempt_at__lt=now - REQUEUE_GRACE)
    ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    # Push them forward first, so the next sweep does not queue them again while the tasks wait.
    NotificationDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now, updated_at=now)
    for delivery_id in ids:
        delivery_enqueue(delivery_id)
    return len(ids)


# --- the inbox ------------------------------------------------------------------------------------


def notification_mark_read(*, client: ClientProfile, notification_id: Any) -> Notification:
    """Mark one of ``client``'s notifications read (another client's id is ``NotFound``)."""
    notification = notification_for_client(client=client, notification_id=notification_id)
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notifications_mark_all_read(*, client: ClientProfile) -> int:
    """Mark every unread notification of ``client`` read; returns how many changed."""
    return Notification.objects.filter(client=client, read_at__isnull=True).update(read_at=timezone.now())
