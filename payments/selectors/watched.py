"""The watched-address set: every address ever issued in a chain family, kept in memory per process.

The scanner matches each scanned transfer's recipient against this set, so it must hold every
address a payment can reach, and reading it must not cost more as the set grows (100,000
addresses took 50-100 ms to load, twice per pass, when it was read from scratch every time).

Design:

* Addresses are never deleted (an issued address belongs to its client forever, ARCHITECTURE.md
  invariant 4), so the set only grows: each refresh reads the rows with ``id > high_water -
  MARGIN`` (the primary-key index) and adds them. The margin covers out-of-order commits:
  ``address_issue`` takes its id inside a short transaction, so a row with a lower id can become
  visible after a higher one; anything that slipped further behind is picked up by a full reload
  every ``FULL_RELOAD_S``.
* The previous high-water row must come back in every refresh (it lies inside the margin). If it
  does not, the table is not the one the set was built from (a restored database, a test's rolled
  back rows, a benchmark's fresh copy) and the set is reloaded in full.
* The scanner calls ``watched_addresses`` once per pass, after it read the chain head: an address
  a payment in any block up to that head can pay was committed before the payment was made, so
  the refresh sees it.
* A refresh returns an immutable snapshot (``WatchedAddresses``, a frozenset): a pass keeps its
  own snapshot while another thread refreshes. New rows cost one copy of the set; a refresh that
  finds nothing new returns the same object.
* For the EVM family the snapshot also carries ``lowered`` (40 lower-case hex digits per address),
  so the adapter tests a log topic without checksumming it (``payments.chains.evm``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from payments.models import DepositAddress

MARGIN = 1000
FULL_RELOAD_S = 600.0


class WatchedAddresses(frozenset[str]):
    """The addresses, normalised as the family's adapter reports recipients."""

    lowered: frozenset[str] | None  # EVM only: "0x"-less lower-case hex of each address

    def __new__(
        cls, members: Iterable[str], family: str, lowered: frozenset[str] | None = None
    ) -> WatchedAddresses:
        snapshot = super().__new__(cls, members)
        if family != "evm":
            snapshot.lowered = None
        else:
            snapshot.lowered = lowered if lowered is not None else frozenset(a[2:].lower() for a in snapshot)
        return snapshot

    def extended(self, new: Iterable[str], family: str) -> WatchedAddresses:
        """This set plus ``new``; the same object when nothing is new."""
        added = set(new) - self
        if not added:
            return self
        lowered = None if self.lowered is None else self.lowered | {a[2:].lower() for a in added}
        return WatchedAddresses(self | added, family, lowered)


@dataclass
class _Loaded:
    addresses: WatchedAddresses
    high_water: int  # the largest id read so far
    loaded_at: float  # monotonic time of the last full load


_sets: dict[tuple[str, str], _Loaded] = {}
_lock = threading.Lock()


def _rows(family: str, above: int = 0) -> list[tuple[int, str]]:
    rows = DepositAddress.objects.filter(family=family, pk__gt=above).values_list("pk", "address")
    return list(rows)


def _full_load(family: str) -> _Loaded:
    rows = _rows(family)
    high_water = max((pk for pk, _ in rows), default=0)
    return _Loaded(WatchedAddresses((a for _, a in rows), family), high_water, time.monotonic())


def _refreshed(loaded: _Loaded, family: str) -> _Loaded | None:
    """``loaded`` brought up to date, or None if the table is not the one it was built from."""
    rows = _rows(family, max(0, loaded.high_water - MARGIN))
    if loaded.high_water and all(pk != loaded.high_water for pk, _ in rows):
        return None
    if not rows:
        return loaded
    high_water = max(loaded.high_water, max(pk for pk, _ in rows))
    addresses = loaded.addresses.extended((a for _, a in rows), family)
    return _Loaded(addresses, high_water, loaded.loaded_at)


def watched_addresses(family: str) -> WatchedAddresses:
    """Every address ever issued in ``family``, as of now; see the module docstring."""
    key = (str(connection.settings_dict.get("NAME")), family)
    with _lock:
        loaded = _sets.get(key)
        fresh = None
        if loaded is not None and time.monotonic() - loaded.loaded_at < FULL_RELOAD_S:
            fresh = _refreshed(loaded, family)
        _sets[key] = fresh or _full_load(family)
        return _sets[key].addresses


def watched_addresses_forget() -> None:
    """Drop every cached set: the next call loads from the database (tests, benchmarks)."""
    with _lock:
        _sets.clear()
