"""Bitcoin adapter over the Esplora HTTP API (Blockstream, mempool.space, a self-hosted electrs).

Design:

* Block headers for a range come from ``GET /blocks/:start_height`` (the 10 blocks at and below
  that height, newest first: ``id``, ``height``, ``previousblockhash``, ``timestamp``,
  ``tx_count``), so a 100-block range costs 10 header requests. Every requested height must be in
  the answer: a node whose tip is below ``end`` answers from its tip, which fails the request
  instead of passing for an empty range.
* Transactions come from ``GET /block/:hash/txs/:start_index``, 25 per page, pages fetched by
  ``options.workers`` threads (default 4) because a full block has ~150 pages. The pages must add
  up to the block's ``tx_count``.
* A transfer is one output (``vout[i]``) paying a watched address: ``index`` = ``i``, ``amount``
  = ``value`` in satoshis (an int in the JSON). ``sender`` is the single distinct input address
  (``vin[].prevout.scriptpubkey_address``), "" when there are several or none (coinbase).
  Esplora spells addresses canonically (bech32 lower case, base58 as is), so matching is a set
  lookup without re-normalising.
* Bitcoin has no notion of finality (``final_height`` is None) and no failed transactions.
* Every request fails over across ``spec.urls`` (``payments.chains.http``); 429 means throttled.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Set
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from payments.chains.base import BlockRef, ChainError, NetworkSpec, ScanResult, Transfer, TxReport
from payments.chains.http import Endpoints, NextUrl, chain_errors, option_int

PAGE_SIZE = 25
HEADERS_PER_CALL = 10
DEFAULT_WORKERS = 4
Json = dict[str, Any]
T = TypeVar("T")
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def _block_ref(block: Json) -> BlockRef:
    return BlockRef(
        height=int(block["height"]),
        hash=str(block["id"]).lower(),
        parent_hash=str(block.get("previousblockhash") or "").lower(),
        timestamp=int(block.get("timestamp", 0)),
    )


def _block_hash(answer: Any) -> str:
    text = str(answer).strip().lower()
    if not _HASH_RE.match(text):
        raise ValueError(f"not a block hash: {text[:80]!r}")
    return text


def _tx_page(answer: Any) -> list[Json]:
    if not isinstance(answer, list) or not all(isinstance(tx, dict) and "txid" in tx for tx in answer):
        raise ValueError("not a page of transactions")
    return answer


def _tx(answer: Any) -> Json:
    if not isinstance(answer, dict) or "txid" not in answer:
        raise ValueError("not a transaction")
    return answer


def _sender(tx: Json) -> str:
    addresses = {(vin.get("prevout") or {}).get("scriptpubkey_address") or "" for vin in tx.get("vin") or ()}
    return addresses.pop() if len(addresses) == 1 else ""


def _transfers(tx: Json, ref: BlockRef | None, watched: Set[str]) -> Iterable[Transfer]:
    """Outputs of ``tx`` paying a watched address (``ref`` None: still in the mempool)."""
    sender: str | None = None
    for position, out in enumerate(tx.get("vout") or ()):
        address = out.get("scriptpubkey_address")
        if address and address in watched and int(out["value"]) > 0:
            sender = _sender(tx) if sender is None else sender
            yield Transfer(
                tx_hash=str(tx["txid"]).lower(),
                index=position,
                recipient=address,
                amount=int(out["value"]),
                sender=sender,
                block_height=ref.height if ref else None,
                block_hash=ref.hash if ref else None,
            )


class BitcoinAdapter:
    def __init__(self, spec: NetworkSpec, *, client: httpx.Client | None = None) -> None:
        self.spec = spec
        self._http = Endpoints(spec, client=client)
        self._workers = max(1, option_int(spec, "workers", DEFAULT_WORKERS))

    def _get(self, path: str, parse: Callable[[Any], T]) -> T:
        answer = self._http.get(path, parse=parse)
        assert answer is not None  # only ``missing_ok`` answers None
        return answer

    @chain_errors
    def head(self) -> int:
        return self._get("/blocks/tip/height", int)

    @chain_errors
    def final_height(self) -> int | None:
        return None

    @chain_errors
    def block_ref(self, height: int) -> BlockRef:
        block_hash = self._get(f"/block-height/{height}", _block_hash)
        ref = self._get(f"/block/{block_hash}", _block_ref)
        if ref.height != height:
            raise ChainError(f"{self.spec.code}: block {block_hash} is #{ref.height}, not #{height}")
        return ref

    # -- scanning ------------------------------------------------------------------------------

    @chain_errors
    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        if start > end:
            return ScanResult(blocks=(), transfers=())
        headers = self._headers(start, end)
        refs = tuple(_block_ref(block) for block in headers)
        transfers: list[Transfer] = []
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            for block, ref in zip(headers, refs, strict=True):
                for tx in self._block_txs(pool, ref, int(block["tx_count"])):
                    transfers += _transfers(tx, ref, watched)
        return ScanResult(blocks=refs, transfers=tuple(transfers))

    def _headers(self, start: int, end: int) -> list[Json]:
        """Block headers of ``start..end`` in ascending order, each height exactly once."""
        by_height: dict[int, Json] = {}
        for top in range(end, start - 1, -HEADERS_PER_CALL):
            wanted = range(max(start, top - HEADERS_PER_CALL + 1), top + 1)
            path = f"/blocks/{top}"
            by_height.update(
                self._http.failover(functools.partial(self._headers_on, path=path, wanted=wanted), path)
            )
        return [by_height[height] for height in range(start, end + 1)]

    def _headers_on(self, url: str, path: str, wanted: range) -> dict[int, Json]:
        blocks = self._http.fetch("GET", url + path)
        found = {int(b["height"]): b for b in blocks} if isinstance(blocks, list) else {}
        missing = [height for height in wanted if height not in found]
        if missing:  # a node whose tip is below the range answers from its tip
            raise NextUrl(f"{path} lacks blocks {missing[:3]}")
        return {height: found[height] for height in wanted}

    def _block_txs(self, pool: ThreadPoolExecutor, ref: BlockRef, tx_count: int) -> list[Json]:
        starts = range(0, tx_count, PAGE_SIZE)
        pages = pool.map(lambda s: self._get(f"/block/{ref.hash}/txs/{s}", _tx_page), starts)
        txs = [tx for page in pages for tx in page]
        if len(txs) != tx_count:
            raise ChainError(f"block {ref.hash} has {tx_count} transactions, the pages held {len(txs)}")
        return txs

    # -- one transaction -----------------------------------------------------------------------

    @chain_errors
    def lookup(self, tx_hash: str, watched: Set[str]) -> TxReport:
        """``GET /tx/:txid``: outputs are final identities even in the mempool (``status.confirmed``
        false), so a waiting payment is an ordinary transfer without a block."""
        tx = self._http.get(f"/tx/{tx_hash.lower()}", parse=_tx, missing_ok=True)
        if tx is None:
            return TxReport()
        status = tx.get("status") or {}
        ref = None
        if status.get("confirmed"):
            ref = BlockRef(
                height=int(status["block_height"]), hash=str(status["block_hash"]).lower(), parent_hash=""
            )
        return TxReport(known=True, transfers=tuple(_transfers(tx, ref, watched)))

    def transaction(self, tx_hash: str, watched: Set[str]) -> tuple[Transfer, ...]:
        return self.lookup(tx_hash, watched).transfers
