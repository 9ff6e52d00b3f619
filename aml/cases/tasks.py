"""Celery tasks of cases: thin wrappers that call one service.

* ``cases.document_requests_overdue`` (beat, hourly) marks open document requests past their due
  date ``overdue``; idempotent (a request already overdue is not touched again).
"""

from __future__ import annotations

from celery import shared_task

from aml.cases.documents import document_requests_mark_overdue


@shared_task(name="cases.document_requests_overdue", soft_time_limit=50, time_limit=60)
def document_requests_overdue() -> int:
    return document_requests_mark_overdue()
