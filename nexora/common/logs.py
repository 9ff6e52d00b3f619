"""Structured JSON logs, each record tagged with the id of the request (or task) that produced it.

Design:

* ``request_id`` and ``current_request`` are context variables set by
  ``nexora.common.middleware.RequestIdMiddleware`` for the duration of one request (and by the
  Celery signals below for one task). Context variables follow threads and asyncio tasks, so two
  concurrent requests never see each other's id.
* ``RequestIdFilter`` copies the id onto every ``LogRecord`` (``record.request_id``), so any
  formatter can print it; ``JsonFormatter`` writes one JSON object per line.
* Minimisation (operator's policy section 9, issue 7): the formatter writes a fixed set of fields
  and only the extra keys in ``SAFE_EXTRAS``. Django attaches the whole ``HttpRequest`` to
  ``django.request`` records (headers, cookies, the client's IP); it is dropped here, as is
  everything else nobody whitelisted. Request bodies are never logged by Nexora's code, and IP
  addresses live only in the security log (``nexora.accounts.models.SecurityEvent``).
* A request id from outside (``X-Request-ID`` from a proxy) is accepted only when it is short and
  plain (``REQUEST_ID_PATTERN``): a header must not be able to inject text into the logs.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("nexora_request_id", default="-")
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("nexora_current_request", default=None)

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Extra keys a log call may attach (``logger.info("...", extra={...})``) that reach the output.
SAFE_EXTRAS = frozenset(
    {"method", "path", "status", "duration_ms", "task", "task_id", "network", "kind", "count", "event"}
)


def request_id_accept(candidate: str | None) -> str:
    """The caller's id if it is plain enough to log, else a fresh one."""
    if candidate and REQUEST_ID_PATTERN.match(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a 4xx/5xx response after the middleware chain has returned (the context
        # variable is reset by then), with the request attached: its id is on the request.
        attached = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = attached or request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, safe extras, error."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        for key in SAFE_EXTRAS & record.__dict__.keys():
            body[key] = record.__dict__[key]
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


def _task_started(task_id: str | None = None, **kwargs: Any) -> None:
    request_id.set(f"task:{task_id}" if task_id else "-")


def _task_finished(**kwargs: Any) -> None:
    request_id.set("-")


def celery_signals_connect() -> None:
    """Tag a worker's log records with the running task's id (called from ``nexora.celery``)."""
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_started, weak=False, dispatch_uid="nexora.logs.task_prerun")
    task_postrun.connect(_task_finished, weak=False, dispatch_uid="nexora.logs.task_postrun")
