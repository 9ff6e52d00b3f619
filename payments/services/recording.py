"""Recording a scanned range's transfers set-based, inside the scanner's range transaction.

A busy chain pays an issued address in every block; recording each transfer through the
single-deposit path (top-up lock, deposit lock, audit rows, settle) cost ~14 ms a transfer and
held the cursor. ``deposits_record`` does the common case in a fixed number of statements:

1. one query maps the range's recipients to their ``DepositAddress`` rows (and top-ups);
2. one ``INSERT ... ON CONFLICT (network_id, tx_hash, index) DO NOTHING RETURNING`` records every
   new transfer (``pending``, or ``failed`` for a reverted one) with its block and confirmations.
   The unique key makes a transfer recorded twice impossible; a row a concurrent scanner (or the
   lookup) inserted first simply does not come back;
3. the transfers that were already recorded are read in one query and skipped when nothing
   changed (same block; the tail of blocks the scanner re-reads lands here every pass). The rare
   ones whose block changed (re-mined after a reorg, first seen in the mempool) go through
   ``deposit_observe(credit=False)``, which applies the status moves with their audit rows.

``deposit_seen`` is announced for each inserted row (after commit, once per deposit). Nothing is
confirmed or credited here: the caller hands the deposits to ``deposit_credit`` after commit.
The top-up's status (``confirming``) follows when that task settles it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from payments.chains.base import Transfer
from payments.models import Deposit, DepositAddress, DepositStatus, Network
from payments.services.deposits import deposit_observe, deposit_seen_announce, deposit_topup, is_official

D = DepositStatus
INSERT_CHUNK = 1000  # rows per INSERT: 18 parameters each, far below PostgreSQL's 65,535
_COLUMNS = (
    "network", "tx_hash", "index", "address", "client", "topup", "sender", "amount", "block_height",
    "block_hash", "block_time", "confirmations", "status", "unapplied_reason", "seen_at", "late",
    "created_at", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class Recorded:
    """What ``deposits_record`` did: the new deposits' ids (with their top-up, if any)."""

    new: tuple[tuple[int, int | None], ...] = ()  # (deposit id, top-up id)
    refreshed: int = 0  # already recorded, block changed: went through deposit_observe


Key = tuple[str, int]


def _confirmations(transfer: Transfer, head: int) -> int:
    return max(0, head - transfer.block_height + 1) if transfer.block_height is not None else 0


def _rows(
    network: Network,
    pairs: Sequence[tuple[Transfer, DepositAddress]],
    head: int,
    block_times: Mapping[int, datetime],
    now: datetime,
) -> list[Deposit]:
    rows = []
    for transfer, address in pairs:
        topup = deposit_topup(address, network)
        height = transfer.block_height
        rows.append(Deposit(
            network=network, tx_hash=transfer.tx_hash, index=transfer.index, address=address,
            client_id=address.client_id, topup=topup, sender=transfer.sender, amount=transfer.amount,
            block_height=height, block_hash=transfer.block_hash or "",
            block_time=block_times.get(height) if height is not None else None,
            confirmations=_confirmations(transfer, head), status=D.PENDING if transfer.success else D.FAILED,
            unapplied_reason="", seen_at=now, late=False, created_at=now, updated_at=now,
        ))  # fmt: skip
    return rows


def _field(name: str) -> Field[Any, Any]:
    field = Deposit._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _insert(rows: Sequence[Deposit]) -> dict[Key, int]:
    """Insert ``rows``, skipping transfers already recorded; the new ones' ids by transfer key."""
    fields = [_field(name) for name in _COLUMNS]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    conflict = ", ".join(quote(str(_field(n).column)) for n in ("network", "tx_hash", "index"))
    created: dict[Key, int] = {}
    for offset in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[offset : offset + INSERT_CHUNK]
        params: list[Any] = []
        for row in chunk:
            params += [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
        values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(chunk))
        # Names come from the model's metadata and every value is a parameter.
        sql = (
            f"INSERT INTO {quote(Deposit._meta.db_table)} ({columns}) VALUES {values} "  # noqa: S608
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING id, tx_hash, {quote('index')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            created.update({(tx_hash, int(index)): pk for pk, tx_hash, index in cursor.fetchall()})
    return created


def _unchanged(deposit: Deposit, transfer: Transfer) -> bool:
    """Nothing ``deposit_observe`` would change but the confirmations (the scanner recounts those)."""
    return (
        deposit.block_height == transfer.block_height
        and deposit.block_hash == (transfer.block_hash or "")
        and deposit.orphaned_at_head is None
        and deposit.status not in (D.REORGED, D.REVERSED)
        and (transfer.success or deposit.status != D.PENDING)
    )


def _refresh_changed(
    network: Network, transfers: Iterable[Transfer], head: int, block_times: Mapping[int, datetime]
) -> int:
    by_key = {(t.tx_hash, t.index): t for t in transfers}
    if not by_key:
        return 0
    known = Deposit.objects.filter(network=network, tx_hash__in={h for h, _ in by_key})
    refreshed = 0
    for deposit in known:
        transfer = by_key.get((deposit.tx_hash, deposit.index))
        if transfer is None or _unchanged(deposit, transfer):
            continue
        height = transfer.block_height
        block_time = block_times.get(height) if height is not None else None
        deposit_observe(network=network, transfer=transfer, head=head, block_time=block_time, credit=False)
        refreshed += 1
    return refreshed


def deposits_record(
    *, network: Network, transfers: Sequence[Transfer], head: int, block_times: Mapping[int, datetime]
) -> Recorded:
    """Record a scanned range's transfers to issued addresses; see the module docstring.

    Runs inside the caller's transaction (the scanner's range transaction)."""
    official = {(t.tx_hash, t.index): t for t in transfers if is_official(network, t)}
    if not official:
        return Recorded()
    recipients = {t.recipient for t in official.values()}
    addresses = DepositAddress.objects.filter(family=network.family, address__in=recipients)
    by_address = {a.address: a for a in addresses.select_related("topup")}
    pairs = [(t, by_address[t.recipient]) for t in official.values() if t.recipient in by_address]
    now = timezone.now()
    rows = _rows(network, pairs, head, block_times, now)
    created = _insert(rows)
    new = []
    for row in rows:
        pk = created.get((row.tx_hash, row.index))
        if pk is not None:
            row.pk = pk
            deposit_seen_announce(row, network)
            new.append((pk, row.topup_id))
    others = (t for t, _ in pairs if (t.tx_hash, t.index) not in created)
    return Recorded(new=tuple(new), refreshed=_refresh_changed(network, others, head, block_times))
