"""The scanner's health on its cursor: what each pass of ``scan_network_once`` ended as.

The Celery task and the ``scan_chains`` command call these around every pass, so the scanner
itself stays free of bookkeeping. A pass that ran (not skipped for the lock) sets
``last_success_at`` and clears the run of errors; a failed one counts it, in total and in a row,
with the error's text. A network without a cursor (its very first pass never got the head) has
nothing to write to: it shows as ``not_started`` and its error is in the worker's log.

``scan_backoff_s`` is the wait the beat task leaves between passes of a failing network (doubling
from the block time up to ``MAX_BACKOFF_S``), so a node that answers 429 is not asked again every
few seconds whatever the task's own retry countdown says.
"""

from __future__ import annotations

from datetime import datetime

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
