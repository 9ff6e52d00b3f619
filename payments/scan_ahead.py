"""Read-ahead for a scanner that is catching up: the next range is fetched while this one is recorded.

A pass fetches a range, then records it (one transaction), recounts confirmations and hands the
deposits over. While the cursor is far behind the head, the next pass will ask for the range right
after this one, and that fetch depends on nothing this pass writes. Fetching it in the background
overlaps the node's work with ours, so catching up runs close to the node's speed.

Design:

* ``ahead_start`` is called by the scanner after it fetched a whole range (the provider did not
  make it halve) that stopped short of the head. It asks the same adapter for the next range in a
  background thread (a small pool per process, created after a fork). Only the adapter runs
  there: no database access.
* ``ahead_take`` gives the next pass that answer only if the pass asks for exactly that range
  with the very same watched-address snapshot: an address issued in between could be paid in it,
  so any other snapshot means the range is read again. The answer is then checked like any other
  (contiguous, chained to the cursor) before anything is recorded.
* A read-ahead that failed, or that nobody takes, is dropped; the pass reads the range itself.
  One read-ahead per network and process is kept at most.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from payments.chains.base import ChainAdapter, ScanResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Ahead:
    low: int
    end: int
    watched: Set[str]
    future: Future[ScanResult]


_pending: dict[tuple[int, int], _Ahead] = {}  # (pid, network id) -> the read-ahead in flight
_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    pid = os.getpid()
    with _lock:
        pool = _pools.get(pid)
        if pool is None:
            pool = _pools[pid] = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scan-ahead")
        return pool


def ahead_start(network_id: int, adapter: ChainAdapter, low: int, end: int, watched: Set[str]) -> None:
    """Fetch ``low..end`` in the background for the network's next pass."""
    future = _pool().submit(adapter.scan, low, end, watched)
    with _lock:
        _pending[(os.getpid(), network_id)] = _Ahead(low, end, watched, future)


def ahead_take(network_id: int, low: int, end: int, watched: Set[str]) -> ScanResult | None:
    """The read-ahead of exactly ``low..end`` with this ``watched`` snapshot, or None."""
    with _lock:
        ahead = _pending.pop((os.getpid(), network_id), None)
    if ahead is None or (ahead.low, ahead.end) != (low, end) or ahead.watched is not watched:
        return None
    try:
        return ahead.future.result()
    except Exception as exc:  # the pass reads the range itself and meets the error, if it lasts
        logger.info("read-ahead of %d..%d failed (%s); reading it again", low, end, exc)
        return None


def ahead_forget() -> None:
    """Drop every read-ahead (tests)."""
    with _lock:
        _pending.clear()
