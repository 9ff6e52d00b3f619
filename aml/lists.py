"""Address look-ups for rules 1 and 2: the OFAC sanctions lists and the operator's deny list.

Both come from ``aml.sanctions`` (``sanctions_match`` and ``denylist_match``), which answer from an
in-process snapshot (a dict look-up, no query; re-checked every few seconds). This module is the
engine's only door to them: it turns their hits into ``ListHit`` rows the rules can describe,
and never lets a failing look-up pass for a clean one:

* no sanctions import has ever run: ``sanctions`` is ``None`` (the rule answers
  ``insufficient_data``: "not screened" is not "clean");
* a look-up that raises (the address cannot be read, the database is gone): the list is named in
  ``errors`` (the rule answers ``error`` and the subject is held for review);
* otherwise a tuple of hits, empty when the address is on no list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aml.rules.base import ListHit
from aml.sanctions.selectors import DenyHit, SanctionHit, denylist_match, sanctions_match
from aml.sanctions.snapshot import holder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lookups:
    sanctions: tuple[ListHit, ...] | None = None
    deny: tuple[ListHit, ...] | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _sanction(hit: SanctionHit) -> ListHit:
    """OFAC's XML names the party; the per-asset lists only list addresses."""
    listed = f"listed {hit.listed_on}" if hit.listed_on else ""
    detail = ", ".join(part for part in (", ".join(hit.programs), listed, f"source {hit.source}") if part)
    return ListHit(list_name=hit.list_name, entry=hit.entity_name or f"{hit.asset} address", detail=detail)


def _deny(hit: DenyHit) -> ListHit:
    return ListHit(
        list_name="deny list",
        entry=hit.reason,
        detail=f"entry #{hit.entry_id}, added {hit.added_at:%Y-%m-%d}",
    )


def _sanctions(address: str, errors: dict[str, str]) -> tuple[ListHit, ...] | None:
    try:
        if holder.current().version[0] is None:  # the snapshot's version starts with the latest import id
            return None
        return tuple(_sanction(hit) for hit in sanctions_match(address))
    except Exception as exc:  # a broken list must hold the money, never wave it through
        logger.exception("sanctions look-up failed for %s", address)
        errors["sanctions"] = f"{type(exc).__name__}: {exc}"[:200]
        return None


def _denylist(address: str, errors: dict[str, str]) -> tuple[ListHit, ...] | None:
    try:
        found = denylist_match(address)
    except Exception as exc:  # as above
        logger.exception("deny-list look-up failed for %s", address)
        errors["deny"] = f"{type(exc).__name__}: {exc}"[:200]
        return None
    return () if found is None else (_deny(found),)


def lookups_for(address: str) -> Lookups:
    if not address:
        return Lookups()
    errors: dict[str, str] = {}
    return Lookups(sanctions=_sanctions(address, errors), deny=_denylist(address, errors), errors=errors)
