"""Celery tasks of payments: thin wrappers that take ids, call one service and retry transient errors.

* ``payments.tx_lookup`` looks up a pasted transaction hash (retried with backoff while the node
  does not know it yet, and on node errors);
* ``payments.topups_expire`` settles top-ups whose quote window has passed (beat, every minute).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from payments.chains.base import ChainError
from payments.models import TxLookupStatus
from payments.services.lookups import tx_lookup_run
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
        lookup.status == TxLookupStatus.NOT_FOUND
        and self.request.retries < LOOKUP_RETRIES
        and not self.request.is_eager
    ):
        raise self.retry(countdown=30 * 2**self.request.retries)
    return str(lookup.status)


@shared_task(name="payments.topups_expire", soft_time_limit=50, time_limit=60)
def topups_expire() -> int:
    return topups_expire_due()
