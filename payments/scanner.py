"""The chain scanner: move each network's cursor forward block by block, record every transfer to
an issued address, recount confirmations and survive reorgs. One scanner per network at a time.

One pass (``scan_network_once``):

1. Take the network's scan lock (a PostgreSQL session advisory lock, released on exit or when the
   connection dies; a cache lock elsewhere). Another worker holding it means this pass is skipped.
2. Read the head. On the first pass the cursor starts at ``options.start_height`` or at
   ``head - confirmations`` (nothing older can still need confirming).
3. Check the cursor's block is still on the chain. If not, walk back through the stored hashes to
   the common ancestor, mark deposits from orphaned blocks ``reorged`` and rewind the cursor; the
   next range rescans them (a transfer mined again returns to ``pending``).
4. Scan ``cursor+1 .. min(cursor+batch, head-lag)`` (halving the range while the provider refuses
   it as too large), check the blocks are contiguous and chained to
   the cursor, observe every transfer (``deposit_observe``), store the blocks and move the cursor,
   all in one database transaction: a failure anywhere leaves the cursor where it was.
5. Recount confirmations of pending deposits; before confirming one, re-check its block hash.
   On a chain that declares finality (TRON's solidified block) confirmations are counted against
   ``confirmation_head``: a block is confirmed once final AND ``confirmations`` deep.

Transfers from look-alike token contracts (``ScanResult.foreign``) are recorded for staff in the
same transaction as the range (``payments.services.lookalikes``); they are never credited.

A credited deposit whose block is orphaned (a reorg deeper than the confirmations) raises an
operator alert and is reversed if the new branch grows by the confirmations without it
(``payments.services.reorgs``); the check runs only once the cursor has caught up with the head.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from payments.chains.base import (
    BlockRef,
    ChainAdapter,
    ChainError,
    RangeTooLarge,
    ScanResult,
    confirmation_head,
)
from payments.models import (
    KEEP_BLOCKS,
    Deposit,
    DepositAddress,
    DepositStatus,
    Network,
    ScanCursor,
    ScannedBlock,
)
from payments.services.deposits import deposit_confirm, deposit_observe, deposit_reorg, utc_from_timestamp
from payments.services.lookalikes import lookalikes_record
from payments.services.reorgs import deposit_orphan, orphans_settle

logger = logging.getLogger(__name__)
DEFAULT_BATCH = 100
LOCK_TTL_S = 600


class ReorgTooDeep(ChainError):
    """No stored block matches the chain any more: an operator must look."""


@dataclass(frozen=True)
class ScanOutcome:
    network: str
    skipped: bool = False
    head: int = 0
    height: int = 0
    blocks: int = 0
    transfers: int = 0
    reorg_depth: int = 0


def _lock_key(network: Network) -> int:
    digest = hashlib.sha256(f"nexora-scan:{network.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def network_scan_lock(network: Network) -> Iterator[bool]:
    """Yield True if this process holds the network's scan lock for the block's duration."""
    key = _lock_key(network)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cur.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    acquired = cache.add(f"scan-lock:{key}", 1, timeout=LOCK_TTL_S)
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete(f"scan-lock:{key}")


def watched_addresses(network: Network) -> frozenset[str]:
    """Every address ever issued in the network's family: late and wrong-network payments are seen too."""
    return frozenset(DepositAddress.objects.filter(family=network.family).values_list("address", flat=True))


def _cursor(network: Network, adapter: ChainAdapter, head: int) -> ScanCursor:
    cursor = ScanCursor.objects.filter(network=network).first()
    if cursor is not None:
        return cursor
    start = network.options.get("start_height")
    height = int(start) if start is not None else max(0, head - network.confirmations)
    ref = adapter.block_ref(height)
    with transaction.atomic():  # the starting block is stored too: a reorg right above it can rewind to it
        ScannedBlock.objects.create(
            network=network, height=height, block_hash=ref.hash, parent_hash=ref.parent_hash
        )
        return ScanCursor.objects.create(network=network, height=height, block_hash=ref.hash, head=head)


def _orphan(network: Network, above: int, head: int) -> None:
    """Deposits in blocks above ``above`` left the chain: pending ones become ``reorged``; credited
    ones wait to be mined again or reversed (``payments.services.reorgs``)."""
    gone = Deposit.objects.filter(network=network, block_height__gt=above).exclude(
        status__in=(DepositStatus.REORGED, DepositStatus.FAILED, DepositStatus.REVERSED)
    )
    for deposit in gone:
        if deposit.status == DepositStatus.CREDITED:
            deposit_orphan(deposit=deposit, head=head)
        else:
            deposit_reorg(deposit=deposit, reason=f"its block above #{above} was orphaned")


@transaction.atomic
def _rewind(network: Network, cursor: ScanCursor, adapter: ChainAdapter, head: int) -> int:
    """If the cursor's block left the chain, rewind to the common ancestor; returns the depth."""
    if adapter.block_ref(cursor.height).hash == cursor.block_hash:
        return 0
    stored = ScannedBlock.objects.filter(network=network, height__lt=cursor.height).order_by("-height")
    ancestor = next((b for b in stored.iterator() if adapter.block_ref(b.height).hash == b.block_hash), None)
    if ancestor is None:
        raise ReorgTooDeep(f"{network.code}: no stored block below #{cursor.height} is still on the chain")
    _orphan(network, ancestor.height, head)
    ScannedBlock.objects.filter(network=network, height__gt=ancestor.height).delete()
    depth = cursor.height - ancestor.height
    logger.warning("%s: reorg of %d block(s); rewinding to #%d", network.code, depth, ancestor.height)
    cursor.height, cursor.block_hash = ancestor.height, ancestor.block_hash
    cursor.save(update_fields=["height", "block_hash", "updated_at"])
    return depth


def _check_linked(cursor: ScanCursor, blocks: Sequence[BlockRef], start: int, end: int) -> None:
    heights = [b.height for b in blocks]
    if heights != list(range(start, end + 1)):
        raise ChainError(f"node returned blocks {heights[:3]}... for {start}..{end}")
    parent = cursor.block_hash
    for block in blocks:
        if block.parent_hash != parent:
            raise ChainError(f"block #{block.height} does not follow the previous one (a reorg under way)")
        parent = block.hash


def _observe(network: Network, result: ScanResult, head: int) -> None:
    times = {b.height: utc_from_timestamp(b.timestamp) for b in result.blocks}
    for transfer in result.transfers:
        block_time = times.get(transfer.block_height) if transfer.block_height is not None else None
        deposit_observe(network=network, transfer=transfer, head=head, block_time=block_time)


@transaction.atomic
def _record(network: Network, cursor: ScanCursor, result: ScanResult, head: int) -> None:
    _observe(network, result, head)
    lookalikes_record(network=network, transfers=result.foreign)  # for staff, never credited
    ScannedBlock.objects.bulk_create(
        [ScannedBlock(network=network, height=b.height, block_hash=b.hash, parent_hash=b.parent_hash)
         for b in result.blocks]
    )  # fmt: skip
    last = result.blocks[-1]
    ScannedBlock.objects.filter(network=network, height__lte=last.height - KEEP_BLOCKS).delete()
    cursor.height, cursor.block_hash = last.height, last.hash
    cursor.save(update_fields=["height", "block_hash", "updated_at"])


@transaction.atomic
def _reread_tail(
    network: Network, cursor: ScanCursor, adapter: ChainAdapter, head: int, watched: frozenset[str]
) -> None:
    """Read again the transfers of scanned blocks that have at most ``confirmations`` confirmations.

    A node may report head H while its log or trace index still lacks the newest blocks (it
    answers "nothing there"); ``deposit_observe`` is idempotent, so re-reading costs one request
    and a transfer missed once is still found before its block counts as final. A native network
    without traces reads whole blocks (no index to lag behind): nothing to re-read.
    """
    if not network.token_contract and not network.options.get("trace"):
        return
    low, high = max(head - network.confirmations + 1, 0), cursor.height
    if low > high:
        return
    result = _fetch(adapter, low, high, watched)
    stored = dict(
        ScannedBlock.objects.filter(network=network, height__gte=low, height__lte=high).values_list(
            "height", "block_hash"
        )
    )
    if all(stored.get(b.height) == b.hash for b in result.blocks):  # else a reorg: the next pass rewinds
        _observe(network, result, head)


def _confirmations_refresh(network: Network, head: int, adapter: ChainAdapter) -> None:
    pending = Deposit.objects.filter(
        network=network, status=DepositStatus.PENDING, block_height__isnull=False
    )
    for deposit in pending:
        assert deposit.block_height is not None
        confirmations = max(0, head - deposit.block_height + 1)
        if confirmations < network.confirmations:
            Deposit.objects.filter(pk=deposit.pk).update(confirmations=confirmations)
        elif adapter.block_ref(deposit.block_height).hash == deposit.block_hash:
            Deposit.objects.filter(pk=deposit.pk).update(confirmations=confirmations)
            deposit_confirm(deposit=deposit)


def _scan_range(
    network: Network,
    cursor: ScanCursor,
    adapter: ChainAdapter,
    head: int,
    batch: int,
    watched: frozenset[str],
    counted: int,
) -> ScanResult:
    safe = head - int(network.options.get("lag", 0))
    start, end = cursor.height + 1, min(cursor.height + batch, safe)
    if start > end:
        return ScanResult(blocks=(), transfers=())
    result = _fetch(adapter, start, end, watched)
    _check_linked(cursor, result.blocks, start, result.blocks[-1].height if result.blocks else end)
    _record(network, cursor, result, counted)
    return result


def _fetch(adapter: ChainAdapter, start: int, end: int, watched: frozenset[str]) -> ScanResult:
    """Scan ``start..end``, halving the range while the provider refuses it as too large."""
    while True:
        try:
            return adapter.scan(start, end, watched)
        except RangeTooLarge:
            if end == start:
                raise
            end = start + (end - start) // 2


def scan_network_once(*, network: Network, adapter: ChainAdapter, batch: int = DEFAULT_BATCH) -> ScanOutcome:
    """One pass over ``network``; see the module docstring."""
    with network_scan_lock(network) as acquired:
        if not acquired:
            return ScanOutcome(network=network.code, skipped=True)
        head = adapter.head()
        cursor = _cursor(network, adapter, head)
        depth = _rewind(network, cursor, adapter, head)
        watched = watched_addresses(network)  # once per pass: at 100k addresses it is the costly read
        counted = confirmation_head(adapter, head, network.confirmations)  # TRON: solidified blocks only
        _reread_tail(network, cursor, adapter, counted, watched)
        result = _scan_range(network, cursor, adapter, head, batch, watched, counted)
        _confirmations_refresh(network, counted, adapter)
        if cursor.height >= head - int(network.options.get("lag", 0)):  # caught up: orphans had their chance
            orphans_settle(network=network, head=head)
        ScanCursor.objects.filter(pk=cursor.pk).update(head=head, last_scan_at=timezone.now())
        return ScanOutcome(network=network.code, head=head, height=cursor.height, blocks=len(result.blocks),
                           transfers=len(result.transfers), reorg_depth=depth)  # fmt: skip
