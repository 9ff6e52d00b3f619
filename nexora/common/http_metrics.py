"""HTTP request counts for ``/metrics``: a middleware counts, a collector reports.

``nexora_http_requests_total{method,status}`` counts every answered request by method (``GET``,
``POST``, ... or ``other``) and status class (``2xx``, ``4xx``, ...). Paths are not labels: they
would be unbounded (ids in URLs) and say more about clients than monitoring needs.

Unlike the other collectors, which read the database at scrape time, this is an in-process
count, and a scrape is answered by whichever process the load balancer picks. Two modes:

* **Per process** (``PROMETHEUS_MULTIPROC_DIR`` unset: ``runserver``, the demo, tests, a single
  gunicorn worker): each process counts its own requests and reports only those. With several
  workers behind one socket, successive scrapes would read different workers' counts, so set the
  directory there.
* **Across the processes of one machine** (``PROMETHEUS_MULTIPROC_DIR`` set to a directory, the
  Procfile's ``web``): prometheus_client's multiprocess mode. Each process writes its counts to a
  memory-mapped file in that directory and a scrape sums the files, so every worker answers the
  machine's total. One refinement keeps that clean under gunicorn's worker recycling
  (``--max-requests``): files are named by a worker *slot*, not by pid. A process claims the
  lowest free slot with an exclusive ``flock`` on ``slot<N>.lock`` (held for its life, released
  by the kernel even on ``kill -9``) and continues the counts of the slot's file. So the number
  of files is bounded by the most workers ever alive at once (not one per pid forever), the sum
  never goes backwards when a worker is replaced, and the directory needs no cleaning, not even
  between deploys (counts then continue). Each machine has its own directory and its own totals;
  Prometheus scrapes each machine (see docs/operations.md).

Counting never fails a request: an error is logged once per process and the request goes on.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from django.http import HttpRequest, HttpResponseBase
from prometheus_client import values
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)
NAME = "nexora_http_requests"
HELP = "HTTP requests answered, by method and status class."
LABELS = ("method", "status")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def request_labels(method: str | None, status: int) -> tuple[str, str]:
    method = (method or "").upper()
    status_class = f"{status // 100}xx" if 100 <= status < 600 else "other"
    return (method if method in METHODS else "other", status_class)


class Counts(Protocol):
    def inc(self, labels: tuple[str, str]) -> None: ...

    def families(self) -> Iterable[Metric]: ...


class LocalCounts:
    """This process's counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def inc(self, labels: tuple[str, str]) -> None:
        with self._lock:
            self._counts[labels] += 1

    def families(self) -> Iterator[Metric]:
        family = CounterMetricFamily(NAME, HELP, labels=LABELS)
        with self._lock:
            for labels, count in sorted(self._counts.items()):
                family.add_metric(labels, count)
        yield family


def slot_claim(directory: str) -> str:
    """The lowest slot no live process holds, locked for the life of this process."""
    number = 0
    while True:
        fd = os.open(os.path.join(directory, f"slot{number}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            number += 1
            continue
        return f"slot{number}"  # the descriptor stays open on purpose: it is the lock


class SharedCounts:
    """Counts of every process of the machine, in prometheus_client's multiprocess files.

    The directory is ``PROMETHEUS_MULTIPROC_DIR``: prometheus_client reads it from the environment
    when it opens a file, so it is never passed around."""

    def __init__(self) -> None:
        self.directory = os.environ[MULTIPROC_ENV]
        os.makedirs(self.directory, exist_ok=True)
        self._slots: dict[int, str] = {}
        self._lock = threading.Lock()
        self._value_class: Any = None
        self._values: dict[tuple[str, str], Any] = {}

    def _slot(self) -> str:
        # Called by prometheus_client before each write: a forked child (new pid) claims its own.
        pid = os.getpid()
        if pid not in self._slots:
            self._slots[pid] = slot_claim(self.directory)
        return self._slots[pid]

    def _value(self, labels: tuple[str, str]) -> Any:
        with self._lock:
            if self._value_class is None:
                self._value_class = values.MultiProcessValue(process_identifier=self._slot)
            if labels not in self._values:
                value = self._value_class("counter", NAME, f"{NAME}_total", LABELS, labels, HELP)
                self._values[labels] = value
            return self._values[labels]

    def inc(self, labels: tuple[str, str]) -> None:
        self._value(labels).inc(1)

    def families(self) -> list[Metric]:
        merged = MultiProcessCollector(None, path=self.directory).collect()
        return [family for family in merged if family.name == NAME]


def counts_for_environment() -> Counts:
    return SharedCounts() if os.environ.get(MULTIPROC_ENV) else LocalCounts()


_counts: Counts = LocalCounts()
_failed = False


def counts_install(counts: Counts) -> None:
    """Called from ``CommonConfig.ready`` (and by tests that need a fresh count)."""
    global _counts
    _counts = counts


def request_count(method: str | None, status: int) -> None:
    global _failed
    try:
        _counts.inc(request_labels(method, status))
    except Exception:
        if not _failed:  # once per process: a broken directory must not flood the log
            _failed = True
            logger.exception("counting HTTP requests failed; /metrics will under-count")


def http_metrics() -> Iterable[Metric]:
    return _counts.families()


class RequestCountMiddleware:
    """Outermost middleware: every answer counts, the health probes' and error pages' too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        request_count(request.method, response.status_code)
        return response
