"""Celery tasks of payments: thin wrappers that take ids, call one service and retry transient errors.

* ``payments.tx_lookup`` looks up a pasted transaction hash that could not be settled in the
  client's request (the node was unreachable, or a token payment was still in the mempool):
  retried with backoff while the node does not know it yet or has not mined it, and on node errors;
* ``payments.topups_expire`` settles top-ups whose quote window has passed (beat, every minute);
* ``payments.payout_verify`` checks a sent refund on chain (queued when the treasury records its
  hash; node errors retried with backoff), and ``payments.payouts_verify_due`` (beat, every minute)
  queues it again for every refund still ``sent`` whose network has produced a block since;
* ``payments.scan_due`` (beat, every few seconds) queues ``payments.scan_network`` for each enabled
  network whose block time has passed since its last scan, except a failing network inside its
  back-off (``scan_is_due``: a throttled provider is not asked again every few seconds);
  ``scan_network`` runs one scanner pass (one per network at a time: the scanner's lock),
  records its health on the cursor (``payments.services.scanhealth``) and retries node faults
  with backoff.

Chain work goes to the ``chain`` queue (``CELERY_TASK_ROUTES``), so slow nodes never delay other tasks.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from payments.chains.base import ChainError
from payments.models import Network, PayoutRequest, TxLookupStatus
from payments.scanner import scan_network_once
from payments.selectors.payouts import payouts_in_flight
from payments.services.lookups import tx_lookup_run
from payments.services.networks import network_spec
from payments.services.payouts import payout_verify
from payments.services.scanhealth import scan_is_due, scancursor_error_record, scancursor_success_record
from payments.services.topups import topups_expire_due

LOOKUP_RETRIES = 5
logger = logging.getLogger(__name__)


def tx_lookup_enqueue(lookup_id: int) -> None:
    """Queue a lookup after commit. With eager tasks (the embedded demo) it runs in the request; a node
    that is down must not turn the client's 202 into a 500: the scanner will still see the payment."""
    try:
        tx_lookup.delay(lookup_id)
    except Exception:
        logger.warning("tx lookup %s could not run now; the scanner will find the payment", lookup_id)


@shared_task(
    bind=True,
    name="payments.tx_lookup",
    max_retries=LOOKUP_RETRIES,
    soft_time_limit=60,
    time_limit=90,
    acks_late=True,
)
def tx_lookup(self: Any, lookup_id: int) -> str:
    try:
        lookup = tx_lookup_run(lookup_id=lookup_id)
    except ChainError as exc:
        raise self.retry(exc=exc, countdown=15 * 2**self.request.retries) from None
    if (
        lookup.status in (TxLookupStatus.NOT_FOUND, TxLookupStatus.PENDING)
        and self.request.retries < LOOKUP_RETRIES
        and not self.request.is_eager
    ):
        raise self.retry(countdown=30 * 2**self.request.retries)
    return str(lookup.status)


@shared_task(name="payments.topups_expire", soft_time_limit=50, time_limit=60)
def topups_expire() -> int:
    return topups_expire_due()


def _adapter(network: Network) -> Any:
    from payments.chains.registry import adapter_for

    return adapter_for(network_spec(network))


@shared_task(
    bind=True,
    name="payments.scan_network",
    max_retries=5,
    soft_time_limit=120,
    time_limit=150,
    acks_late=True,
)
def scan_network(self: Any, network_id: int) -> dict[str, Any]:
    network = Network.objects.get(pk=network_id)
    if not network.enabled:
        return {"network": network.code, "skipped": True}
    try:
        outcome = scan_network_once(network=network, adapter=_adapter(network))
    except ChainError as exc:
        scancursor_error_record(network=network, error=exc)
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from None
    if not outcome.skipped:
        scancursor_success_record(network=network)
    return asdict(outcome)


@shared_task(name="payments.scan_due", soft_time_limit=20, time_limit=30)
def scan_due() -> list[str]:
    """Queue a scan of every enabled network whose block time has passed since its last scan."""
    now = timezone.now()
    queued = []
    for network in Network.objects.filter(enabled=True).select_related("cursor"):
        if scan_is_due(network=network, cursor=getattr(network, "cursor", None), now=now):
            scan_network.delay(network.pk)
            queued.append(network.code)
    return queued


def payout_verify_enqueue(payout_id: int) -> None:
    """Queue a verification after commit; a broker or node that is down must not fail the treasury's
    request: the beat sweep (``payouts_verify_due``) checks every sent refund again."""
    try:
        payout_check.delay(payout_id)
    except Exception:
        logger.warning("payout %s could not be verified now; the next sweep will", payout_id)


@shared_task(
    bind=True,
    name="payments.payout_verify",
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
    acks_late=True,
)
def payout_check(self: Any, payout_id: int) -> str:
    payout = PayoutRequest.objects.select_related("network").get(pk=payout_id)
    try:
        payout = payout_verify(payout=payout)
    except ChainError as exc:
        raise self.retry(exc=exc, countdown=min(300, 15 * 2**self.request.retries)) from None
    return str(payout.status)


@shared_task(name="payments.payouts_verify_due", soft_time_limit=20, time_limit=30)
def payouts_verify_due() -> list[int]:
    """Queue a check of every sent refund not checked within its network's block time."""
    now = timezone.now()
    queued = []
    for payout in payouts_in_flight():
        last = payout.last_checked_at
        if last is None or now - last >= timedelta(seconds=payout.network.block_time_s):
            payout_check.delay(payout.pk)
            queued.append(payout.pk)
    return queued
