"""``privacy.retention_purge``: the daily retention purge (beat; ``CELERY_BEAT_SCHEDULE``).

Idempotent: a second run the same day finds nothing left to do. Each category runs in its own
transaction, so a failure in one leaves the others' work done; the task is not retried (tomorrow's
run picks up whatever is left) and the failure is logged with the category.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from nexora.privacy.retention import retention_purge

logger = logging.getLogger(__name__)


@shared_task(name="privacy.retention_purge", soft_time_limit=1800, time_limit=2000)
def retention_purge_task() -> list[dict[str, Any]]:
    outcomes = retention_purge(dry_run=False)
    for outcome in outcomes:
        if outcome.acted:
            logger.info("retention: %s %s", outcome.name, outcome.action,
                        extra={"kind": outcome.name, "count": outcome.acted})  # fmt: skip
    return [o.as_dict() for o in outcomes]
