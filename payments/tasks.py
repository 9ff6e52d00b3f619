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
  with backoff;
* ``payments.deposit_credit`` moves one deposit forward (``deposit_credit``: confirm, credit,
  settle the top-up) in its own short transaction, retrying transient errors (database, rate
  feed) with backoff. ``payments.deposits_credit`` does the same for a batch of up to
  ``CREDIT_BATCH`` deposits, one transaction each: the scanner hands its deposits over in batches
  after its range transaction committed (``deposits_credit_enqueue``), because publishing a Celery
  message costs ~1 ms of Python and a busy range holds hundreds of deposits. It hands over every
  new deposit and every deposit that is due, on every pass until it is credited: a lost message
  delays a credit by at most ``NEXORA_CREDIT_REQUEUE_S`` (a killed worker's messages too), it
  never loses it. A Redis key per (deposit,
  block hash) keeps a busy queue from filling with copies while a message waits; duplicates that
  slip through change nothing (the ledger key and the status compare-and-set make crediting
  idempotent). With eager tasks (tests, the embedded demo) the credits run in the scanner's
  process right after the range commits, one transaction each.

Chain work, crediting included, goes to the ``chain`` queue (``CELERY_TASK_ROUTES``),
so slow nodes never delay other tasks.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from payments.chains.base import ChainError
from payments.models import Deposit, Network, PayoutRequest, TxLookupStatus
from payments.rates import RateUnavailable
from payments.scanner import scan_network_once
from payments.selectors.payouts import payouts_in_flight
from payments.services.deposits import deposit_credit as deposit_credit_run
from payments.services.lookups import tx_lookup_run
from payments.services.networks import network_spec
from payments.services.payouts import payout_verify
from payments.services.scanhealth import scan_is_due, scancursor_error_record, scancursor_success_record
from payments.services.topups import topups_expire_due

LOOKUP_RETRIES = 5
CREDIT_RETRIES = 8
CREDIT_BATCH = 20  # deposits per message: few publishes, and still spread over the worker processes
TRANSIENT_CREDIT_ERRORS = (OperationalError, RateUnavailable)  # the database, the rate feed
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


# -- crediting -------------------------------------------------------------------------------------


def _queued_key(deposit_id: int, block_hash: str) -> str:
    return f"deposit-credit-queued:{deposit_id}:{block_hash}"


def _credit_one(deposit_id: int, block_hash: str, *, clear_mark: bool) -> str:
    """One deposit in its own transaction; its queued mark is cleared once the attempt is over, so
    the scanner's next pass may hand it over again if it is still due."""
    try:
        return str(deposit_credit_run(deposit_id=deposit_id, block_hash=block_hash).status)
    except Deposit.DoesNotExist:
        return "missing"
    finally:
        if clear_mark:
            cache.delete(_queued_key(deposit_id, block_hash))


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


@shared_task(
    bind=True,
    name="payments.deposit_credit",
    ignore_result=True,  # nobody waits for it; a stored result would also cost a subscription per call
    max_retries=CREDIT_RETRIES,
    soft_time_limit=30,
    time_limit=45,
    acks_late=True,
)
def deposit_credit(self: Any, deposit_id: int, block_hash: str = "") -> str:
    try:
        return _credit_one(deposit_id, block_hash, clear_mark=not self.request.is_eager)
    except TRANSIENT_CREDIT_ERRORS as exc:
        if self.request.is_eager:  # the scanner's next pass hands it over again
            raise
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from None


@shared_task(
    name="payments.deposits_credit",
    ignore_result=True,
    soft_time_limit=120,
    time_limit=150,
    acks_late=True,
)
def deposits_credit(items: list[list[Any]]) -> dict[str, int]:
    """Up to ``CREDIT_BATCH`` ``[deposit id, block hash]`` pairs, each credited in its own
    transaction; one that fails for a transient reason goes on alone as ``payments.deposit_credit``
    (retried with backoff). One message per batch: publishing cost ~1 ms of Python per message."""
    outcome: Counter[str] = Counter()
    for deposit_id, block_hash in items:
        try:
            outcome[_credit_one(int(deposit_id), str(block_hash), clear_mark=True)] += 1
        except TRANSIENT_CREDIT_ERRORS as exc:
            logger.warning("deposit %s not credited yet (%s); retrying it alone", deposit_id, exc)
            deposit_credit.apply_async((int(deposit_id), str(block_hash)), countdown=5)
            outcome["retrying"] += 1
        except Exception:  # one deposit's bug must not hold the others; the next pass hands it over again
            logger.exception("deposit %s could not be credited", deposit_id)
            outcome["failed"] += 1
    return dict(outcome)


def deposits_credit_enqueue(work: Mapping[int, str]) -> None:
    """Hand ``{deposit id: verified block hash}`` to the credit tasks once the caller's transaction
    commits: in batches of ``CREDIT_BATCH`` (``payments.deposits_credit``), or here and now, one
    transaction each, with eager tasks."""
    if not work:
        return
    if deposit_credit.app.conf.task_always_eager:
        _credit_now(work)
    else:
        items = dict(work)
        transaction.on_commit(lambda: _publish(items))


def _credit_now(work: Mapping[int, str]) -> None:
    """Eager: credit in this process, one transaction each. A transient failure waits for the next
    pass; anything else propagates, and the deposits after it wait for the next pass too. The
    service is called directly: Celery's eager ``apply`` flips a process-wide "joins would block"
    flag that two threads scanning at once (the demo, the tests) can leave set."""
    for deposit_id, block_hash in work.items():
        try:
            _credit_one(deposit_id, block_hash, clear_mark=False)
        except TRANSIENT_CREDIT_ERRORS as exc:
            logger.warning("deposit %s not credited yet (%s); the next pass retries", deposit_id, exc)


def _publish(work: Mapping[int, str]) -> None:
    keys = {deposit_id: _queued_key(deposit_id, block_hash) for deposit_id, block_hash in work.items()}
    try:
        queued = cache.get_many(list(keys.values()))
        fresh = {d: h for d, h in work.items() if keys[d] not in queued}
        cache.set_many({keys[d]: 1 for d in fresh}, timeout=settings.NEXORA_CREDIT_REQUEUE_S)
        items = [[d, h] for d, h in fresh.items()]
        for offset in range(0, len(items), CREDIT_BATCH):
            deposits_credit.apply_async((items[offset : offset + CREDIT_BATCH],))
    except (BrokerError, RedisError) as exc:  # the range is recorded: the next pass hands them over again
        logger.warning("could not queue %d credit(s) (%s); the next scanner pass retries", len(work), exc)
        with contextlib.suppress(RedisError):
            cache.delete_many(list(keys.values()))
