"""The in-process snapshot behind ``sanctions_match`` and ``denylist_match`` (the scoring hot path).

The AML engine screens every deposit, charge and account change (target: 500 assessments/s with
p99 <= 20 ms for the whole assessment), and one ORM query costs ~0.9 ms here, so matching must not
query. Each process keeps an immutable ``Snapshot``: two dicts from canonical address to what is
listed for it (active OFAC listings; active deny-list entries). A match is one dict lookup.

Staleness: at most every ``NEXORA_SANCTIONS_RECHECK_SECONDS`` (default 5 s) a match reads the
*version*, one raw SQL round trip over four aggregates, and reloads only when it changed:

* the latest import id. Imports are serialised by an advisory lock and insert their row inside
  it, so ids become visible in increasing order, and every change to listings is an import;
* the deny list's latest id, row count and removed count. Entries are never deleted and never
  un-removed, so each committed add or removal changes the counts, whatever the commit order
  of concurrent ones; the id catches a rolled-back test transaction replaced by another.

Versions are compared for equality, not order. The version is read *before* the rows, so a
change committed in between only causes one extra reload, never a missed one. An import or a
deny-list change in this process calls ``snapshot_mark_stale()``: the next match re-checks at
once (so the same thread sees its own change, even inside a transaction, as in tests) and again
on commit (so every thread of the process sees it committed); other processes see it within the
recheck interval. Should that transaction roll back after such a re-check, the version no longer
matches and the next re-check (within the interval) reloads the committed state.

Concurrency: the snapshot is replaced by one reference assignment. One thread reloads at a
time; the others keep matching against the previous snapshot meanwhile (only the very first load
makes them wait).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from aml.sanctions.models import DenyListEntry, DenyListStatus, ListingStatus, SanctionedAddress


@dataclass(frozen=True, slots=True)
class SanctionHit:
    """One active listing of a matched address (staff-only detail: never shown to the client)."""

    list_name: str
    entity_name: str
    programs: tuple[str, ...]
    listed_on: date | None
    source: str
    import_id: int
    asset: str
    family: str
    address: str


@dataclass(frozen=True, slots=True)
class DenyHit:
    """The active deny-list entry of a matched address."""

    entry_id: int
    family: str
    address: str
    reason: str
    added_at: datetime


Version = tuple[Any, ...]


@dataclass(frozen=True)
class Snapshot:
    version: Version
    sanctions: Mapping[str, tuple[SanctionHit, ...]]
    deny: Mapping[str, DenyHit]


# The tables are the models' (``_meta.db_table``); a test asserts they still are.
VERSION_SQL = (
    "SELECT (SELECT max(id) FROM sanctions_sanctionsimport), (SELECT max(id) FROM sanctions_denylistentry), "
    "(SELECT count(*) FROM sanctions_denylistentry), (SELECT count(removed_at) FROM sanctions_denylistentry)"
)


def read_version() -> Version:
    with connection.cursor() as cursor:
        cursor.execute(VERSION_SQL)
        row = cursor.fetchone()
    return tuple(row)


def load_snapshot(version: Version) -> Snapshot:
    hits: dict[str, list[SanctionHit]] = defaultdict(list)
    listings = SanctionedAddress.objects.filter(status=ListingStatus.ACTIVE).values_list(
        "list_name", "entity_name", "programs", "listed_on", "source", "listed_by_import_id",
        "asset", "family", "address",
    )  # fmt: skip
    for name, entity, programs, listed_on, source, import_id, asset, family, address in listings:
        hit = SanctionHit(name, entity, tuple(programs), listed_on, source, import_id, asset, family, address)
        hits[address].append(hit)
    deny = {
        address: DenyHit(pk, family, address, reason, added_at)
        for pk, family, address, reason, added_at in DenyListEntry.objects.filter(
            status=DenyListStatus.ACTIVE
        ).values_list("pk", "family", "address", "reason", "added_at")
    }
    sanctions = {address: tuple(sorted(found, key=_hit_order)) for address, found in hits.items()}
    return Snapshot(version=version, sanctions=sanctions, deny=deny)


def _hit_order(hit: SanctionHit) -> tuple[str, str, str, int]:
    return (hit.source, hit.entity_name, hit.asset, hit.import_id)


class SnapshotHolder:
    """Holds the process's current snapshot and decides when to re-check it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._snapshot: Snapshot | None = None
        self._checked_at = float("-inf")
        self._generation = 0  # bumped by invalidate(), so a re-check racing it does not hide it
        self._lock = threading.Lock()

    def current(self) -> Snapshot:
        snapshot = self._snapshot
        now = self.clock()
        if snapshot is not None and now - self._checked_at < settings.NEXORA_SANCTIONS_RECHECK_SECONDS:
            return snapshot
        if snapshot is None:
            self._lock.acquire()
        elif not self._lock.acquire(blocking=False):
            return snapshot  # another thread is re-checking; this one is at most one interval old
        try:
            return self._recheck(now)
        finally:
            self._lock.release()

    def invalidate(self) -> None:
        self._generation += 1
        self._checked_at = float("-inf")

    def reset(self) -> None:
        """Forget the snapshot entirely (tests, and a process that forked)."""
        self._snapshot = None
        self.invalidate()

    def _recheck(self, now: float) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and now - self._checked_at < settings.NEXORA_SANCTIONS_RECHECK_SECONDS:
            return snapshot  # re-checked by the thread we waited for
        generation = self._generation
        version = read_version()
        if snapshot is None or snapshot.version != version:
            snapshot = load_snapshot(version)
            self._snapshot = snapshot
        if generation == self._generation:
            self._checked_at = now
        return snapshot


holder = SnapshotHolder()


def snapshot_mark_stale() -> None:
    """Called by the services that change listings or the deny list, inside their transaction."""
    holder.invalidate()
    transaction.on_commit(holder.invalidate)
