"""The chain scanner: move each network's cursor forward block by block, record every transfer to
an issued address, recount confirmations and survive reorgs. One scanner per network at a time.

One pass (``scan_network_once``):

1. Take the network's scan lock (a PostgreSQL session advisory lock, released on exit or when the
   connection dies; a cache lock elsewhere). Another worker holding it means this pass is skipped.
2. Read the head. On the first pass the cursor starts at ``options.start_height`` or at
   ``head - confirmations`` (nothing older can still need confirming).
3. Read the watched addresses (``payments.selectors.watched``: an in-memory set per family,
   refreshed incrementally) and scan ``cursor+1 .. min(cursor+batch, head-lag)`` in one adapter
   call (halving the range while the provider refuses it as too large). For token networks and
   traced native ones the call starts lower, at the stored blocks that have at most
   ``confirmations`` confirmations: a node may report head H while its log or trace index still
   lacks the newest blocks, so those blocks are read again, in the same request, until they are
   final (a native network without traces reads whole blocks: nothing can lag). While catching
   up, the next range is fetched in the background as soon as this one arrived
   (``payments.scan_ahead``); the next pass takes it only for exactly that range and watched set.
4. Check the blocks still continue the cursor's chain: the re-read ones must be the stored ones,
   the first new one's parent the cursor's block (parent-hash checks detect reorgs, no extra
   request). If not, or if there was nothing to read, ask the node for the cursor's block; if it
   left the chain, walk back through the stored hashes to the common ancestor, mark deposits from
   orphaned blocks ``reorged``, rewind the cursor and read the range again from there (a transfer
   mined again returns to ``pending``).
5. Check the new blocks are contiguous and chained to each other. Then, in ONE short
   transaction: move the cursor (a compare-and-set on its height and hash, taken first, so a
   second scanner that bypassed the lock waits here and then finds the cursor moved and rolls
   back), record the range's transfers set-based
   (``payments.services.recording``) and store the blocks. A failure anywhere leaves the cursor
   where it was (ARCHITECTURE.md invariant 3).
6. Recount the confirmations of pending deposits (one ``UPDATE``) and pick those that are due:
   pending with enough confirmations in a block the stored chain vouches for (the stored blocks
   are linked by parent hashes to a cursor checked against the node in this pass; older heights
   are asked from the node), or confirmed and not yet credited. On a chain that declares finality
   (TRON's solidified block) confirmations are counted against ``confirmation_head``: a block is
   confirmed once final AND ``confirmations`` deep (and the re-read tail follows the same count).
7. Hand the new and the due deposits over for crediting (``payments.tasks``): one short
   transaction per deposit, outside the scan transaction, so the cursor moves at the speed
   of the chain whatever the deposit density. Every pass hands over every deposit still due, so a
   lost task never loses a payment; the database keeps it exactly once.

Transfers from look-alike token contracts (``ScanResult.foreign``) are recorded for staff in the
range's transaction (``payments.services.lookalikes``); they are never credited.

A credited deposit whose block is orphaned (a reorg deeper than the confirmations) raises an
operator alert and is reversed if the new branch grows by the confirmations without it
(``payments.services.reorgs``); the check runs only once the cursor has caught up with the head.

A second scanner that bypassed the lock (a lock lost with its connection) loses the cursor's
compare-and-set or a unique key; its pass is retried from the top (``RACE_RETRIES``), not failed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
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
    DepositStatus,
    Network,
    ScanCursor,
    ScannedBlock,
)
from payments.scan_ahead import ahead_start, ahead_take
from payments.selectors.watched import WatchedAddresses
from payments.selectors.watched import watched_addresses as family_watched_addresses
from payments.services.deposits import deposit_reorg, utc_from_timestamp
from payments.services.lookalikes import lookalikes_record
from payments.services.recording import Recorded, deposits_record
from payments.services.reorgs import deposit_orphan, orphans_settle

logger = logging.getLogger(__name__)
D = DepositStatus
DEFAULT_BATCH = 100
LOCK_TTL_S = 600
RACE_RETRIES = 3


class ReorgTooDeep(ChainError):
    """No stored block matches the chain any more: an operator must look."""


class CursorMoved(Exception):
    """Another scanner moved the cursor since this pass read it (it bypassed the lock)."""


@dataclass(frozen=True)
class ScanOutcome:
    network: str
    skipped: bool = False
    head: int = 0
    height: int = 0
    blocks: int = 0
    transfers: int = 0
    reorg_depth: int = 0
    handed_over: int = 0  # deposits this pass handed over for crediting (payments.tasks)


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


def watched_addresses(network: Network) -> WatchedAddresses:
    """Every address ever issued in the network's family: late and wrong-network payments are seen too."""
    return family_watched_addresses(network.family)


# -- cursor and reorgs -----------------------------------------------------------------------------


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


def _cursor_move(cursor: ScanCursor, height: int, block_hash: str, **also: object) -> None:
    """Compare-and-set: move the cursor only from where this pass read it (``also``: more fields)."""
    where = {"pk": cursor.pk, "height": cursor.height, "block_hash": cursor.block_hash}
    now = timezone.now()
    moved = ScanCursor.objects.filter(**where).update(
        height=height, block_hash=block_hash, updated_at=now, **also
    )
    if moved != 1:
        raise CursorMoved(f"the cursor left #{cursor.height} while this pass scanned")
    cursor.height, cursor.block_hash = height, block_hash


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
    depth = cursor.height - ancestor.height
    _cursor_move(cursor, ancestor.height, ancestor.block_hash)
    _orphan(network, ancestor.height, head)
    ScannedBlock.objects.filter(network=network, height__gt=ancestor.height).delete()
    logger.warning("%s: reorg of %d block(s); rewinding to #%d", network.code, depth, ancestor.height)
    return depth


# -- the range ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    low: int  # first height asked: the re-read tail's, or cursor+1
    start: int  # first new height
    end: int  # last height asked
    stored: dict[int, str]  # hashes of the re-read heights, as stored


def _rereads_tail(network: Network) -> bool:
    return bool(network.token_contract or network.options.get("trace"))


def _tail(network: Network, cursor: ScanCursor, counted: int) -> dict[int, str]:
    """Stored blocks with at most ``confirmations`` confirmations, to read again (see step 4)."""
    if not _rereads_tail(network):
        return {}
    low = max(counted - network.confirmations + 1, 0)
    if low > cursor.height:
        return {}
    rows = ScannedBlock.objects.filter(network=network, height__gte=low, height__lte=cursor.height)
    return dict(rows.values_list("height", "block_hash"))


def _range(network: Network, cursor: ScanCursor, head: int, batch: int, counted: int) -> _Range | None:
    safe = head - int(network.options.get("lag", 0))
    start, end = cursor.height + 1, min(cursor.height + batch, safe)
    stored = _tail(network, cursor, counted)
    if start > end and not stored:
        return None
    return _Range(low=min(stored, default=start), start=start, end=max(end, cursor.height), stored=stored)


def _fetch(network: Network, adapter: ChainAdapter, span: _Range, watched: WatchedAddresses) -> ScanResult:
    """Scan the range (or take the previous pass's read-ahead of it), halving its new part while
    the provider refuses it as too large."""
    ahead = ahead_take(network.pk, span.low, span.end, watched)
    if ahead is not None:
        return ahead
    end = span.end
    while True:
        try:
            return adapter.scan(span.low, end, watched)
        except RangeTooLarge:
            if end <= span.start:
                raise
            end = span.start + (end - span.start) // 2


def _joins(cursor: ScanCursor, span: _Range, blocks: Sequence[BlockRef]) -> bool:
    """Whether the blocks read continue the cursor's chain: the re-read ones are the stored ones
    and the first new one's parent is the cursor's block. If not, the cursor's block left the
    chain (or is leaving it right now)."""
    for block in blocks:
        if block.height <= cursor.height and span.stored.get(block.height) != block.hash:
            return False
        if block.height == cursor.height + 1:
            return block.parent_hash == cursor.block_hash
    return True


def _check_linked(cursor: ScanCursor, span: _Range, blocks: Sequence[BlockRef]) -> None:
    heights = [b.height for b in blocks]
    last = heights[-1] if heights else span.low - 1
    if not heights or last > span.end or heights != list(range(span.low, last + 1)):
        raise ChainError(f"node returned blocks {heights[:3]}... for {span.low}..{span.end}")
    parent = cursor.block_hash
    for block in blocks:
        if block.height <= cursor.height:
            if span.stored.get(block.height) != block.hash:
                raise ChainError(f"block #{block.height} changed since it was scanned (a reorg under way)")
            continue
        if block.parent_hash != parent:
            raise ChainError(f"block #{block.height} does not follow the previous one (a reorg under way)")
        parent = block.hash


def _read_ahead(
    network: Network, adapter: ChainAdapter, span: _Range, last: int, head: int, batch: int,
    watched: WatchedAddresses, counted: int,
) -> None:  # fmt: skip
    """After a whole range (the provider did not make it halve), fetch the next one in the
    background if the next pass will ask for it as such: short of the head, and far enough below
    it that no tail is re-read with it."""
    safe = head - int(network.options.get("lag", 0))
    near_head = _rereads_tail(network) and last >= counted - network.confirmations + 1
    if last != span.start + batch - 1 or last >= safe or near_head:
        return
    ahead_start(network.pk, adapter, last + 1, min(last + batch, safe), watched)


@transaction.atomic
def _record(network: Network, cursor: ScanCursor, result: ScanResult, head: int, counted: int) -> Recorded:
    new_blocks = [b for b in result.blocks if b.height > cursor.height]
    if new_blocks:  # first: a racing scanner waits on this row lock, then finds the cursor moved
        last = new_blocks[-1]
        _cursor_move(cursor, last.height, last.hash, head=head, last_scan_at=timezone.now())
    times = {b.height: utc_from_timestamp(b.timestamp) for b in result.blocks}
    recorded = deposits_record(network=network, transfers=result.transfers, head=counted, block_times=times)
    lookalikes_record(network=network, transfers=result.foreign)  # for staff, never credited
    if new_blocks:
        ScannedBlock.objects.bulk_create(
            [ScannedBlock(network=network, height=b.height, block_hash=b.hash, parent_hash=b.parent_hash)
             for b in new_blocks]
        )  # fmt: skip
        ScannedBlock.objects.filter(network=network, height__lte=cursor.height - KEEP_BLOCKS).delete()
    return recorded


@dataclass(frozen=True)
class _Scanned:
    blocks: int = 0
    transfers: int = 0
    recorded: Recorded = field(default_factory=Recorded)
    hashes: dict[int, str] = field(default_factory=dict)  # every block read, checked: on the chain


def _scan_range(
    network: Network, cursor: ScanCursor, adapter: ChainAdapter, head: int, batch: int,
    *, counted: int, rewound: bool = False,
) -> tuple[_Scanned, int]:  # fmt: skip
    """Scan and record the next range; returns what it did and the depth of the reorg it found.

    The range's own blocks tell whether the cursor's block is still on the chain (``_joins``); only
    when they do not (or when there is nothing to read) is the cursor's block asked for and, if it
    is gone, the cursor rewound to the common ancestor, before the range is read again from there."""
    span = _range(network, cursor, head, batch, counted)
    if span is None:
        depth = 0 if rewound else _rewind(network, cursor, adapter, head)
        if not depth:
            return _Scanned(), 0
        return _scan_range(network, cursor, adapter, head, batch, counted=counted, rewound=True)[0], depth
    watched = watched_addresses(network)  # after the head was read: see payments.selectors.watched
    result = _fetch(network, adapter, span, watched)
    if not rewound and not _joins(cursor, span, result.blocks):
        depth = _rewind(network, cursor, adapter, head)
        if depth:
            return _scan_range(network, cursor, adapter, head, batch, counted=counted, rewound=True)[0], depth
    _check_linked(cursor, span, result.blocks)  # a cursor still on the chain: a reorg under way
    _read_ahead(network, adapter, span, result.blocks[-1].height, head, batch, watched, counted)
    return _recorded(network, cursor, result, head, counted), 0


def _recorded(network: Network, cursor: ScanCursor, result: ScanResult, head: int, counted: int) -> _Scanned:
    before = cursor.height
    recorded = _record(network, cursor, result, head, counted)
    new = sum(1 for t in result.transfers if t.block_height is None or t.block_height > before)
    hashes = {b.height: b.hash for b in result.blocks}
    return _Scanned(blocks=cursor.height - before, transfers=new, recorded=recorded, hashes=hashes)


# -- confirmations and handing over ----------------------------------------------------------------


def _verified(
    network: Network, adapter: ChainAdapter, heights: set[int], read: dict[int, str]
) -> dict[int, str]:
    """The canonical hash at each height: the blocks this pass read, then the stored ones (on the
    chain: linked to a cursor this pass checked), then, for older heights, the node's answer."""
    known = {h: read[h] for h in heights if h in read}
    missing = heights - set(known)
    if missing:
        stored = ScannedBlock.objects.filter(network=network, height__in=missing)
        known.update(stored.values_list("height", "block_hash"))
    for height in sorted(heights - set(known)):
        known[height] = adapter.block_ref(height).hash
    return known


def _confirmations_refresh(
    network: Network, cursor: ScanCursor, head: int, adapter: ChainAdapter, read: dict[int, str]
) -> dict[int, str]:
    """Recount pending deposits' confirmations (one UPDATE); the due ones: ``{id: verified hash}``
    (an empty hash for a confirmed deposit, which only waits for its credit)."""
    count = Greatest(Value(head + 1) - F("block_height"), Value(0))
    pending = Deposit.objects.filter(network=network, status=D.PENDING, block_height__isnull=False)
    pending.exclude(confirmations=count).update(confirmations=count)
    ripe = Q(status=D.PENDING, confirmations__gte=network.confirmations) | Q(status=D.CONFIRMED)
    due = list(
        Deposit.objects.filter(ripe, network=network, block_height__lte=cursor.height).values_list(
            "pk", "status", "block_height", "block_hash"
        )
    )
    hashes = _verified(network, adapter, {h for _, s, h, _ in due if s == D.PENDING and h is not None}, read)
    return {
        pk: "" if status == D.CONFIRMED else block_hash
        for pk, status, height, block_hash in due
        if status == D.CONFIRMED or (height is not None and hashes.get(height) == block_hash)
    }


def _hand_over(recorded: Recorded, due: dict[int, str]) -> int:
    """Hand over for crediting the new deposits (to settle their top-ups) and the due ones."""
    from payments.tasks import deposits_credit_enqueue

    work = {pk: "" for pk, topup_id in recorded.new if topup_id is not None}
    work.update(due)
    deposits_credit_enqueue(work)
    return len(work)


# -- one pass ------------------------------------------------------------------------------------------


def _pass(network: Network, adapter: ChainAdapter, batch: int) -> ScanOutcome:
    head = adapter.head()
    cursor = _cursor(network, adapter, head)
    counted = confirmation_head(adapter, head, network.confirmations)  # TRON: solidified blocks only
    scanned, depth = _scan_range(network, cursor, adapter, head, batch, counted=counted)
    due = _confirmations_refresh(network, cursor, counted, adapter, scanned.hashes)
    handed = _hand_over(scanned.recorded, due)
    if cursor.height >= head - int(network.options.get("lag", 0)):  # caught up: orphans had their chance
        orphans_settle(network=network, head=head)
    if not scanned.blocks:  # a range that moved the cursor recorded these with it
        ScanCursor.objects.filter(pk=cursor.pk).update(head=head, last_scan_at=timezone.now())
    return ScanOutcome(network=network.code, head=head, height=cursor.height, blocks=scanned.blocks,
                       transfers=scanned.transfers, reorg_depth=depth, handed_over=handed)  # fmt: skip


def scan_network_once(*, network: Network, adapter: ChainAdapter, batch: int = DEFAULT_BATCH) -> ScanOutcome:
    """One pass over ``network``; see the module docstring."""
    with network_scan_lock(network) as acquired:
        if not acquired:
            return ScanOutcome(network=network.code, skipped=True)
        for attempt in range(1, RACE_RETRIES + 1):
            try:
                return _pass(network, adapter, batch)
            except (CursorMoved, IntegrityError) as exc:
                if attempt == RACE_RETRIES:
                    raise
                logger.warning("%s: another scanner got there first (%s); scanning again", network.code, exc)
        raise AssertionError("unreachable")
