"""Importing OFAC sanctions files: a diff against what is listed, in one transaction.

``sanctions_import_run(paths=...)`` reads the files into a batch (``reading.py``: checksum, hashes,
streaming parse) and hands it to ``sanctions_import_apply``, which, under one advisory lock and in
one transaction:

1. turns each entry into a listing keyed by (family, canonical address, asset, party uid), within
   the batch's source and list (see ``models``);
2. loads the active listings of the batch's **scope**: for an XML file, every listing from the XML
   source; for per-asset lists, only the listings of those assets from the per-asset source (an
   ETH list never delists a TRX entry, nor anything the XML listed);
3. inserts the listings that are new (new rows, also for a listing that comes back), delists those
   of the scope that the batch no longer contains (``sanctioned_address_transition``, an audit
   row each), refreshes the details (name, programs, date) of those OFAC revised, and counts the
   rest as unchanged;
4. inserts the ``SanctionsImport`` row with the final counts, per family too.

An XML file published before one already imported is refused (it would undo newer changes)
unless ``allow_older`` is given. Any error rolls everything back: a broken file changes nothing
(the parser refuses broken or empty XML, the reader refuses empty lists, so a bad download never
delists a whole source). The process's match snapshot is marked stale and, after commit, if
addresses became sanctioned, ``sanctions_listed`` is sent (``signals.py``). Imports are
serialised by a PostgreSQL advisory lock, so two at once cannot both insert the same listing or
diff against a stale state.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from aml.sanctions.models import OFAC_SDN, ListingStatus, SanctionedAddress, SanctionsImport
from aml.sanctions.normalize import canonical_address, classify_address
from aml.sanctions.parsers import SanctionEntry
from aml.sanctions.reading import SanctionsBatch, sanctions_batch_read
from aml.sanctions.signals import sanctions_listed
from aml.sanctions.snapshot import snapshot_mark_stale
from nexora.common.errors import ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply

logger = logging.getLogger(__name__)

LISTING_TRANSITIONS: TransitionTable = {
    ListingStatus.ACTIVE: frozenset({ListingStatus.DELISTED}),
    ListingStatus.DELISTED: frozenset(),  # a listing that comes back is a new row
}
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"nexora-sanctions-import").digest()[:8], "big", signed=True)
_COUNTS = ("added", "delisted", "unchanged", "updated")

Key = tuple[str, str, str, str]  # family, canonical address, asset, party uid
Details = tuple[str, tuple[str, ...], date | None]  # entity name, programs, listed on


@dataclass(frozen=True, slots=True)
class _Listing:
    family: str
    address: str
    listed_as: str
    asset: str
    party_uid: str
    details: Details

    @property
    def key(self) -> Key:
        return (self.family, self.address, self.asset, self.party_uid)


@dataclass
class _Diff:
    added: list[_Listing] = field(default_factory=list)
    delisted: list[tuple[Key, int]] = field(default_factory=list)
    updated: list[tuple[int, _Listing]] = field(default_factory=list)
    unchanged: list[Key] = field(default_factory=list)

    def per_family(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {}
        keyed: dict[str, Iterable[Key]] = {
            "added": (listing.key for listing in self.added),
            "delisted": (key for key, _ in self.delisted),
            "unchanged": self.unchanged,
            "updated": (listing.key for _, listing in self.updated),
        }
        for outcome, keys in keyed.items():
            for key in keys:
                counts.setdefault(key[0], Counter())[outcome] += 1
        return {family: {name: found[name] for name in _COUNTS} for family, found in sorted(counts.items())}


def sanctioned_address_transition(
    listing: SanctionedAddress, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> SanctionedAddress:
    return transition_apply(
        listing,
        table=LISTING_TRANSITIONS,
        to=to,
        entity="sanctioned_address",
        actor=actor,
        reason=reason,
        extra_fields=fields,
    )


def sanctions_import_run(
    *, paths: Sequence[str | Path], actor: Any = None, actor_label: str = "", allow_older: bool = False
) -> SanctionsImport:
    """Read ``paths`` (one XML file, or per-asset lists) and import them; see the module docstring."""
    batch = sanctions_batch_read(paths=paths)
    return sanctions_import_apply(batch=batch, actor=actor, actor_label=actor_label, allow_older=allow_older)


def sanctions_import_apply(
    *, batch: SanctionsBatch, actor: Any = None, actor_label: str = "", allow_older: bool = False
) -> SanctionsImport:
    """Apply a read batch to the listings in one transaction; returns the new import row."""
    wanted = _wanted(batch.entries)
    with transaction.atomic():
        _lock_imports()
        if not allow_older:
            _refuse_older_publication(batch)
        diff = _diff(wanted, _current(batch))
        newly_listed = _newly_listed(diff.added)
        record = _record(batch, diff, actor=actor, actor_label=actor_label)
        _write(record, batch, diff, actor=actor)
        snapshot_mark_stale()
        if newly_listed:
            transaction.on_commit(partial(_announce, record.pk, newly_listed))
    return record


def _wanted(entries: Iterable[SanctionEntry]) -> dict[Key, _Listing]:
    wanted: dict[Key, _Listing] = {}
    for entry in entries:
        address = _listed_address(entry.address)
        listing = _Listing(
            family=classify_address(address),
            address=address,
            listed_as=entry.address,
            asset=entry.asset,
            party_uid=entry.uid,
            details=(entry.entity_name, entry.programs, entry.listed_on),
        )
        wanted.setdefault(listing.key, listing)  # the same address spelled twice: one listing
    return wanted


def _listed_address(raw: str) -> str:
    try:
        return canonical_address(raw)
    except ValidationFailed:
        # A mixed-case bech32 string is invalid as *input*, but on a sanctions list its intended
        # address is the lower-cased one: matching more is the safe side.
        return canonical_address(raw.lower())


def _lock_imports() -> None:
    if connection.vendor == "postgresql":  # SQLite (the demo) serialises writers by itself
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def _refuse_older_publication(batch: SanctionsBatch) -> None:
    """An XML file older than one already imported would undo newer designations and delistings."""
    if batch.published_on is None:
        return
    newest = (
        SanctionsImport.objects.filter(source_kind=batch.source_kind, published_on__isnull=False)
        .order_by("-published_on")
        .values_list("published_on", flat=True)
        .first()
    )
    if newest is not None and batch.published_on < newest:
        raise ValidationFailed(
            f"This file was published on {batch.published_on}, before the publication of "
            f"{newest} that is already imported; importing it would undo newer changes. "
            "Use --allow-older if this is really intended.",
            code="older_sanctions_publication",
            fields={"published_on": str(batch.published_on), "newest_imported": str(newest)},
        )


def _current(batch: SanctionsBatch) -> dict[Key, tuple[int, Details]]:
    rows = SanctionedAddress.objects.filter(
        source=batch.source_kind, list_name=OFAC_SDN, status=ListingStatus.ACTIVE
    )
    if batch.scope_assets is not None:
        rows = rows.filter(asset__in=batch.scope_assets)
    fields = ("pk", "family", "address", "asset", "party_uid", "entity_name", "programs", "listed_on")
    return {
        (family, address, asset, uid): (pk, (name, tuple(programs), listed_on))
        for pk, family, address, asset, uid, name, programs, listed_on in rows.values_list(*fields)
    }


def _diff(wanted: dict[Key, _Listing], current: dict[Key, tuple[int, Details]]) -> _Diff:
    diff = _Diff()
    for key, listing in wanted.items():
        if key not in current:
            diff.added.append(listing)
        elif current[key][1] != listing.details:
            diff.updated.append((current[key][0], listing))
        else:
            diff.unchanged.append(key)
    diff.delisted = [(key, pk) for key, (pk, _) in current.items() if key not in wanted]
    return diff


def _newly_listed(added: list[_Listing]) -> tuple[tuple[str, str], ...]:
    """Pairs of ``added`` with no active listing from any source yet (see ``signals.py``)."""
    pairs = {(listing.family, listing.address) for listing in added}
    already = SanctionedAddress.objects.filter(
        status=ListingStatus.ACTIVE, address__in={address for _, address in pairs}
    ).values_list("family", "address")
    return tuple(sorted(pairs - set(already)))


def _record(batch: SanctionsBatch, diff: _Diff, *, actor: Any, actor_label: str) -> SanctionsImport:
    return SanctionsImport.objects.create(
        source_kind=batch.source_kind,
        files=[file.as_dict() for file in batch.files],
        scope_assets=list(batch.scope_assets) if batch.scope_assets is not None else None,
        checksum_verified=batch.checksum_verified,
        published_on=batch.published_on,
        started_at=batch.started_at,
        finished_at=timezone.now(),  # the diff is complete; its rows follow in this transaction
        added=len(diff.added),
        delisted=len(diff.delisted),
        unchanged=len(diff.unchanged),
        updated=len(diff.updated),
        per_family=diff.per_family(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label[:150],
    )


def _write(record: SanctionsImport, batch: SanctionsBatch, diff: _Diff, *, actor: Any) -> None:
    SanctionedAddress.objects.bulk_create(
        SanctionedAddress(
            family=listing.family,
            address=listing.address,
            listed_as=listing.listed_as,
            list_name=OFAC_SDN,
            asset=listing.asset,
            party_uid=listing.party_uid,
            entity_name=listing.details[0],
            programs=list(listing.details[1]),
            listed_on=listing.details[2],
            source=batch.source_kind,
            listed_by_import=record,
        )
        for listing in diff.added
    )
    _delist(record, [pk for _, pk in diff.delisted], actor=actor)
    for pk, listing in diff.updated:
        name, programs, listed_on = listing.details
        SanctionedAddress.objects.filter(pk=pk, status=ListingStatus.ACTIVE).update(
            entity_name=name, programs=list(programs), listed_on=listed_on
        )


def _delist(record: SanctionsImport, pks: list[int], *, actor: Any) -> None:
    now = timezone.now()
    for listing in SanctionedAddress.objects.filter(pk__in=pks).order_by("pk"):
        sanctioned_address_transition(
            listing,
            to=ListingStatus.DELISTED,
            actor=actor,
            reason=f"not in sanctions import #{record.pk}",
            delisted_by_import=record,
            delisted_at=now,
        )


def _announce(import_id: int, added: tuple[tuple[str, str], ...]) -> None:
    responses = sanctions_listed.send_robust(sender=SanctionsImport, import_id=import_id, added=added)
    for receiver, result in responses:
        if isinstance(result, Exception):
            # The import has committed; a failing receiver must not make it look undone.
            logger.error(
                "sanctions_listed receiver %r failed for import #%s",
                receiver,
                import_id,
                exc_info=result,
            )
