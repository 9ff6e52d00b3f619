"""Celery tasks of the AML engine: thin, idempotent, named, time-limited.

* ``aml.rescreen_sources``: re-screen the recent deposits from addresses a sanctions import just
  listed (``aml.rescreen``). Queued by the ``sanctions_listed`` receiver, so the import's own
  transaction never waits for it. Safe to retry: each (deposit, import) is re-screened once.
  Only database hiccups are retried (with backoff); anything else is a bug and surfaces.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from aml.rescreen import rescreen_after_import

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="aml.rescreen_sources",
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=6,
    soft_time_limit=900,
    time_limit=960,
    acks_late=True,
)
def rescreen_sources(self: Any, import_id: int, added: list[list[str]]) -> int:
    return len(
        rescreen_after_import(import_id=import_id, added=[(family, address) for family, address in added])
    )


def rescreen_on_listing(
    sender: Any, *, import_id: int, added: tuple[tuple[str, str], ...], **kwargs: Any
) -> None:
    """``sanctions_listed`` receiver (connected in ``AmlConfig.ready``)."""
    rescreen_sources.delay(import_id, [list(pair) for pair in added])
