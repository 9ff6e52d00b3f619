"""The scanner's health on its cursor: what each pass of ``scan_network_once`` ended as.

The Celery task and the ``scan_chains`` command call these around every pass, so the scanner
itself stays free of bookkeeping. A pass that ran (not skipped for the lock) sets
``last_success_at`` and clears the run of errors; a failed one counts it, in total and in a row,
with the error's text. A network without a cursor (its very first pass never got the head) has
nothing to write to: it shows as ``not_started`` and its error is in the worker's log.

``scan_is_due`` is the beat task's rule: a network is scanned once its block time has passed since
its last pass, except while it fails: then ``scan_backoff_s`` after the last failure (doubling from
the block time up to ``MAX_BACKOFF_S``), so a node that answers 429 is not asked again every few
seconds whatever the task's own retry countdown says.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from payments.models import Network, ScanCursor

MAX_BACKOFF_S = 300


def scancursor_success_record(*, network: Network, now: datetime | None = None) -> int:
    """A pass ran to its end; returns the number of cursors updated (0 before the first)."""
    return ScanCursor.objects.filter(network=network).update(
        last_success_at=now or timezone.now(), consecutive_errors=0
    )


def scancursor_error_record(*, network: Network, error: BaseException, now: datetime | None = None) -> int:
    """A pass failed with ``error``; returns the number of cursors updated (0 before the first)."""
    return ScanCursor.objects.filter(network=network).update(
        error_count=F("error_count") + 1,
        consecutive_errors=F("consecutive_errors") + 1,
        last_error=f"{type(error).__name__}: {error}"[:300],
        last_error_at=now or timezone.now(),
    )


def scan_backoff_s(*, network: Network, cursor: ScanCursor) -> float:
    """Seconds to wait after the last failed pass before the next one (0 when not failing)."""
    if cursor.consecutive_errors == 0:
        return 0.0
    return float(min(MAX_BACKOFF_S, max(1, network.block_time_s) * 2 ** (cursor.consecutive_errors - 1)))


def scan_is_due(*, network: Network, cursor: ScanCursor | None, now: datetime) -> bool:
    """Whether beat should queue a pass of ``network`` now (see the module docstring)."""
    if cursor is None:
        return True
    failed_at = cursor.last_error_at if cursor.consecutive_errors else None
    backoff = timedelta(seconds=scan_backoff_s(network=network, cursor=cursor))
    if failed_at is not None and now - failed_at < backoff:
        return False
    return cursor.last_scan_at is None or now - cursor.last_scan_at >= timedelta(seconds=network.block_time_s)
