"""EVM adapter: raw JSON-RPC over httpx + orjson, batched, with failover across node URLs.

Design:

* Hot path without web3.py: requests are plain dicts serialised by orjson, answers are read as
  hex strings and turned into ``int`` (amounts stay exact integers). Calls go out as JSON-RPC
  batches (one POST with an array of calls; ``options.batch_size``, default 200 calls per POST;
  lower it for providers with a smaller batch limit or full blocks that make huge answers).
* One scan runs on ONE node: the head is read in the same batch as the blocks, and ``end`` above
  that head fails the attempt (a node answers an empty list for ``eth_getLogs`` above its head, so
  an empty answer is only trusted up to the head it reported). Receipts and traces are asked from
  the same node. Any failure of that node (transport, 5xx, JSON-RPC error, missing block, logs
  from another branch) moves the whole scan to the next URL (``payments.chains.http``).
* Tokens: ``eth_getLogs`` for ``Transfer(address,address,uint256)``. While the watched set is
  small (<= ``options.foreign_topic_limit``, default 1000) the node filters by recipient (topic 2
  = the watched addresses) across ALL contracts: one query returns the official token's transfers
  and the look-alikes' (``ScanResult.foreign``). Above the limit the query filters by the
  official contract and recipients are matched locally, and look-alikes are not reported.
  ``options.log_range`` (blocks per ``eth_getLogs``, default: the whole range) serves providers
  that cap the range. Every log must come from the block hash read in the same batch.
* Native coin: full blocks; a transaction with value to a watched address gets its receipt
  (status 0x1 = success). With ``options.trace`` the adapter also reads ``trace_block`` (Parity
  format, served by anvil, Erigon, Nethermind, Reth) for value moved by internal calls
  (``call`` with ``callType == "call"`` and selfdestruct refunds); ``index`` is the trace's
  position in its transaction (the top-level call, index 0, comes from the transaction itself).
  A trace under a reverted frame moved nothing and is skipped, even if it has no error itself.
* One transaction (``lookup``, the client's tx-hash fast path): the transaction and its receipt;
  a token payment still pending (``unmined_tokens``: its log index does not exist yet) or
  reverted (``success=False``, index 0: it emitted no log) is read from its call data.
* Addresses are EIP-55 checksummed (``payments.addresses.evm_checksum``, memoised: the same
  contracts and exchange wallets recur), so matching against ``watched`` is a set lookup.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import replace
from typing import Any

import httpx
import orjson

from payments.addresses import evm_checksum
from payments.chains.base import (
    BlockRef,
    ChainError,
    NetworkSpec,
    RangeTooLarge,
    ScanResult,
    Transfer,
    TxReport,
)
from payments.chains.calldata import token_call
from payments.chains.http import (
    Endpoints,
    NextUrl,
    Throttled,
    chain_errors,
    is_throttle_message,
    option_flag,
    option_int,
)

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DEFAULT_BATCH_SIZE = 200  # a 100-block token scan (head + headers + logs) is one POST
DEFAULT_FOREIGN_TOPIC_LIMIT = 1000
# How providers word "ask for a smaller range" (Infura, Alchemy, QuickNode, Ankr, BSC, Polygon...).
_RANGE_REFUSED = re.compile(
    r"query returned more than|block range|range (?:is )?too|is limited to|limit(?:ed)? exceeded"
    r"|response size|too large|too many (?:blocks|results|logs)",
    re.IGNORECASE,
)
Call = tuple[str, list[Any]]
Json = dict[str, Any]
Order = tuple[int, int, int]  # block height, transaction position, index: the order transfers are returned in


def _int(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a") or a plain number (trace blockNumber) as an int."""
    return value if isinstance(value, int) else int(value, 16)


@functools.lru_cache(maxsize=1 << 16)
def _checksum(address: str) -> str:
    return evm_checksum(bytes.fromhex(address.lower().removeprefix("0x")))


def _topic_address(topic: str) -> str:
    return _checksum(topic[-40:])


def _rpc_error(error: Any, method: str) -> Exception:
    """Classify a JSON-RPC error object: throttled, range refused, or this node's failure."""
    error = error if isinstance(error, dict) else {"message": str(error)}
    code, message = error.get("code"), str(error.get("message", ""))
    text = f"{method}: [{code}] {message}"
    if code == 429 or is_throttle_message(message):
        return Throttled(text)
    if code == -32005 or _RANGE_REFUSED.search(message):
        return RangeTooLarge(text)
    return NextUrl(text)


def _block_ref(raw: Json) -> BlockRef:
    return BlockRef(
        height=_int(raw["number"]),
        hash=raw["hash"].lower(),
        parent_hash=raw["parentHash"].lower(),
        timestamp=_int(raw["timestamp"]),
    )


def _chunks(items: Sequence[Call], size: int) -> Iterator[Sequence[Call]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


class EvmAdapter:
    def __init__(self, spec: NetworkSpec, *, client: httpx.Client | None = None) -> None:
        self.spec = spec
        self._http = Endpoints(spec, client=client)
        self._batch_size = max(1, option_int(spec, "batch_size", DEFAULT_BATCH_SIZE))
        self._foreign_limit = option_int(spec, "foreign_topic_limit", DEFAULT_FOREIGN_TOPIC_LIMIT)
        self._log_range = option_int(spec, "log_range", 0)
        self._trace = option_flag(spec, "trace")
        self._token = spec.token_contract

    # -- JSON-RPC ------------------------------------------------------------------------------

    def _call(self, method: str, params: list[Any]) -> Any:
        what = f"{self.spec.code} {method}"
        return self._http.failover(lambda url: self._batch(url, [(method, params)])[0], what)

    def _batch(self, url: str, calls: Sequence[Call]) -> list[Any]:
        """Results of ``calls`` on one node, in order; any error fails the whole attempt."""
        results: list[Any] = []
        for chunk in _chunks(calls, self._batch_size):
            results += self._post(url, chunk)
        return results

    def _post(self, url: str, calls: Sequence[Call]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        response = self._http.send("POST", url, orjson.dumps(body[0] if len(body) == 1 else body))
        try:
            answers = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise NextUrl(f"HTTP {response.status_code}: not JSON") from None
        if isinstance(answers, dict) and (len(body) > 1 or answers.get("id") != 0):
            raise _rpc_error(answers.get("error"), "request")  # one error for the whole request
        if isinstance(answers, dict):
            answers = [answers]
        if not isinstance(answers, list):
            raise NextUrl("the answer is not a JSON-RPC batch")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        return [self._result(by_id.get(i), method) for i, (method, _) in enumerate(calls)]

    @staticmethod
    def _result(answer: Any, method: str) -> Any:
        if not isinstance(answer, dict):
            raise NextUrl(f"{method}: no answer in the batch")
        if answer.get("error") is not None:
            raise _rpc_error(answer["error"], method)
        return answer.get("result")

    # -- simple reads --------------------------------------------------------------------------

    @chain_errors
    def head(self) -> int:
        return _int(self._call("eth_blockNumber", []))

    @chain_errors
    def final_height(self) -> int | None:
        if not option_flag(self.spec, "finalized_tag"):
            return None
        raw = self._call("eth_getBlockByNumber", ["finalized", False])
        if raw is None:
            raise ChainError(f"{self.spec.code}: the node has no finalized block")
        return _int(raw["number"])

    @chain_errors
    def block_ref(self, height: int) -> BlockRef:
        def attempt(url: str) -> BlockRef:
            (raw,) = self._batch(url, [("eth_getBlockByNumber", [hex(height), False])])
            if raw is None:
                raise NextUrl(f"no block #{height}")
            return _block_ref(raw)

        return self._http.failover(attempt, f"{self.spec.code} block #{height}")

    # -- scanning ------------------------------------------------------------------------------

    @chain_errors
    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        if start > end:
            return ScanResult(blocks=(), transfers=())
        return self._http.failover(
            lambda url: self._scan_on(url, start, end, watched), f"{self.spec.code} scan {start}..{end}"
        )

    def _scan_on(self, url: str, start: int, end: int, watched: Set[str]) -> ScanResult:
        heights = range(start, end + 1)
        full = not self._token
        calls: list[Call] = [("eth_blockNumber", [])]
        calls += [("eth_getBlockByNumber", [hex(h), full]) for h in heights]
        extra = self._log_calls(start, end, watched) if self._token else self._trace_calls(heights)
        answers = self._batch(url, calls + extra)
        head = _int(answers[0])
        if end > head:
            raise NextUrl(f"asked for #{end} but the node's head is #{head}")
        raw_blocks = answers[1 : 1 + len(heights)]
        blocks = self._refs(raw_blocks, heights)
        rest = answers[1 + len(heights) :]
        if self._token:
            transfers, foreign = self._token_transfers(rest, blocks, watched)
            return ScanResult(blocks=blocks, transfers=transfers, foreign=foreign)
        transfers = self._native_transfers(url, raw_blocks, rest, watched)
        return ScanResult(blocks=blocks, transfers=transfers)

    @staticmethod
    def _refs(raw_blocks: Sequence[Any], heights: range) -> tuple[BlockRef, ...]:
        refs = []
        for height, raw in zip(heights, raw_blocks, strict=True):
            if raw is None:
                raise NextUrl(f"the node has no block #{height}")
            ref = _block_ref(raw)
            if ref.height != height:
                raise NextUrl(f"asked for block #{height}, got #{ref.height}")
            refs.append(ref)
        return tuple(refs)

    # -- tokens --------------------------------------------------------------------------------

    def _log_calls(self, start: int, end: int, watched: Set[str]) -> list[Call]:
        if not watched:
            return []
        if len(watched) <= self._foreign_limit:
            padded = ["0x" + "0" * 24 + a[2:].lower() for a in sorted(watched)]
            query: Json = {"topics": [TRANSFER_TOPIC, None, padded]}
        else:
            query = {"address": self._token, "topics": [TRANSFER_TOPIC]}
        step = self._log_range if self._log_range > 0 else end - start + 1
        return [
            ("eth_getLogs", [{**query, "fromBlock": hex(low), "toBlock": hex(min(end, low + step - 1))}])
            for low in range(start, end + 1, step)
        ]

    def _token_transfers(
        self, log_lists: Sequence[Any], blocks: Sequence[BlockRef], watched: Set[str]
    ) -> tuple[tuple[Transfer, ...], tuple[Transfer, ...]]:
        hashes = {b.height: b.hash for b in blocks}
        official: list[Transfer] = []
        foreign: list[Transfer] = []
        for log in (log for logs in log_lists for log in (logs or ())):
            transfer = _log_transfer(log, watched)
            if transfer is None:
                continue
            if hashes.get(transfer.block_height or -1) != transfer.block_hash:
                raise NextUrl(f"log of {transfer.tx_hash} is from another branch (a reorg under way)")
            (official if transfer.contract == self._token else foreign).append(transfer)
        return tuple(official), tuple(foreign)

    # -- native coin ---------------------------------------------------------------------------

    def _trace_calls(self, heights: range) -> list[Call]:
        return [("trace_block", [hex(h)]) for h in heights] if self._trace else []

    def _native_transfers(
        self, url: str, raw_blocks: Sequence[Json], traces: Sequence[Any], watched: Set[str]
    ) -> tuple[Transfer, ...]:
        candidates = [
            (tx, block) for block in raw_blocks for tx in block["transactions"] if _pays(tx, watched)
        ]
        receipts = self._batch(url, [("eth_getTransactionReceipt", [tx["hash"]]) for tx, _ in candidates])
        keyed: list[tuple[Order, Transfer]] = []
        for (tx, block), receipt in zip(candidates, receipts, strict=True):
            if receipt is None:
                raise NextUrl(f"no receipt for {tx['hash']} of block #{_int(block['number'])}")
            keyed.append((_order(tx), _top_level(tx, block, receipt)))
        hashes = {_int(block["number"]): block["hash"].lower() for block in raw_blocks}
        for block_traces in traces:
            keyed += _internal_transfers(block_traces or (), watched)
        for _, transfer in keyed:
            if hashes.get(transfer.block_height or -1) != transfer.block_hash:
                raise NextUrl(f"{transfer.tx_hash} is reported in another branch (a reorg under way)")
        keyed.sort(key=lambda pair: pair[0])
        return tuple(transfer for _, transfer in keyed)

    # -- one transaction -----------------------------------------------------------------------
    # The tx-hash fast path: the transaction and its receipt in one batch. A token payment that is
    # still pending, or that reverted (no log), is read from its call data (``calldata``).

    @chain_errors
    def lookup(self, tx_hash: str, watched: Set[str]) -> TxReport:
        tx_hash = tx_hash.lower()
        return self._http.failover(
            lambda url: self._lookup_on(url, tx_hash, watched), f"{self.spec.code} tx {tx_hash}"
        )

    def transaction(self, tx_hash: str, watched: Set[str]) -> tuple[Transfer, ...]:
        return self.lookup(tx_hash, watched).transfers

    def _lookup_on(self, url: str, tx_hash: str, watched: Set[str]) -> TxReport:
        calls: list[Call] = [
            ("eth_getTransactionByHash", [tx_hash]),
            ("eth_getTransactionReceipt", [tx_hash]),
        ]
        tx, receipt = self._batch(url, calls)
        if tx is None:
            return TxReport()
        if self._token:
            return _token_report(tx, receipt, self._token, watched)
        found_native = [_top_level(tx, None, receipt)] if _pays(tx, watched) else []
        if self._trace and receipt is not None and receipt.get("status") == "0x1":
            (traces,) = self._batch(url, [("trace_transaction", [tx_hash])])
            found_native += [transfer for _, transfer in _internal_transfers(traces or (), watched)]
        return TxReport(known=True, transfers=tuple(found_native))


def _token_report(tx: Json, receipt: Json | None, token: str, watched: Set[str]) -> TxReport:
    """Logs of a successful transaction; the call data of a pending or reverted one."""
    if receipt is not None and receipt.get("status") == "0x1":
        logs = (_log_transfer(log, watched) for log in receipt.get("logs") or ())
        found = tuple(t for t in logs if t is not None and t.contract == token)
        return TxReport(known=True, transfers=found)
    call = token_call(str(tx.get("input") or "")) if tx.get("to") and _checksum(tx["to"]) == token else None
    recipient = _checksum(call.recipient_hex) if call else ""
    if call is None or recipient not in watched:
        return TxReport(known=True)
    transfer = Transfer(
        tx_hash=tx["hash"].lower(), index=0, recipient=recipient, amount=call.amount,
        sender=_checksum(call.owner_hex or tx["from"]), contract=token,
    )  # fmt: skip
    if receipt is None:
        return TxReport(known=True, unmined_tokens=(transfer,))
    mined = replace(transfer, block_height=_int(receipt["blockNumber"]),
                    block_hash=receipt["blockHash"].lower(), success=False)  # fmt: skip
    return TxReport(known=True, transfers=(mined,))


def _log_transfer(log: Json, watched: Set[str]) -> Transfer | None:
    """A ``Transfer`` event log to a watched address as a transfer, else None."""
    topics: list[str] = log.get("topics") or []
    data: str = log.get("data") or ""
    if log.get("removed") or len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC or len(data) != 66:
        return None
    recipient = _topic_address(topics[2])
    if recipient not in watched:
        return None
    return Transfer(
        tx_hash=log["transactionHash"].lower(),
        index=_int(log["logIndex"]),
        recipient=recipient,
        amount=int(data, 16),
        sender=_topic_address(topics[1]),
        contract=_checksum(log["address"]),
        block_height=_int(log["blockNumber"]),
        block_hash=log["blockHash"].lower(),
    )


def _pays(tx: Json, watched: Set[str]) -> bool:
    """A top-level transaction moving value to a watched address."""
    to = tx.get("to")
    return bool(to) and _int(tx.get("value", "0x0")) > 0 and _checksum(to) in watched


def _order(tx: Json) -> Order:
    return (_int(tx.get("blockNumber") or 0), _int(tx.get("transactionIndex") or 0), 0)


def _top_level(tx: Json, block: Json | None, receipt: Json | None) -> Transfer:
    """The value a transaction carries to its ``to``; success from the receipt (None: pending)."""
    if receipt is not None and block is not None and receipt.get("blockHash") != block["hash"]:
        raise NextUrl(f"receipt of {tx['hash']} is from another branch (a reorg under way)")
    transfer = Transfer(
        tx_hash=tx["hash"].lower(),
        index=0,
        recipient=_checksum(tx["to"]),
        amount=_int(tx["value"]),
        sender=_checksum(tx["from"]),
    )
    if receipt is None:
        return transfer
    return replace(
        transfer,
        block_height=_int(receipt["blockNumber"]),
        block_hash=receipt["blockHash"].lower(),
        success=receipt.get("status") == "0x1",
    )


def _internal_transfers(traces: Iterable[Json], watched: Set[str]) -> list[tuple[Order, Transfer]]:
    """Value moved to watched addresses by internal calls that took effect, keyed for sorting."""
    found: list[tuple[Order, Transfer]] = []
    for tx_traces in _by_transaction(traces):
        reverted: set[tuple[int, ...]] = set()
        for position, trace in enumerate(tx_traces):
            path = tuple(trace.get("traceAddress") or ())
            if trace.get("error"):
                reverted.add(path)
            if not path or any(path[:depth] in reverted for depth in range(len(path) + 1)):
                continue
            transfer = _trace_transfer(trace, position, watched)
            if transfer is not None:
                order = (_int(trace["blockNumber"]), _int(trace.get("transactionPosition") or 0), position)
                found.append((order, transfer))
    return found


def _by_transaction(traces: Iterable[Json]) -> list[list[Json]]:
    groups: dict[str, list[Json]] = {}
    for trace in traces:
        groups.setdefault(str(trace.get("transactionHash")), []).append(trace)
    return list(groups.values())


def _trace_transfer(trace: Json, position: int, watched: Set[str]) -> Transfer | None:
    action = trace.get("action") or {}
    if trace.get("type") == "call" and action.get("callType") == "call":
        to, value, sender = action.get("to"), action.get("value"), action.get("from")
    elif trace.get("type") == "suicide":
        to, value, sender = action.get("refundAddress"), action.get("balance"), action.get("address")
    else:
        return None
    if not to or not value or _int(value) == 0 or _checksum(to) not in watched:
        return None
    return Transfer(
        tx_hash=str(trace["transactionHash"]).lower(),
        index=position,
        recipient=_checksum(to),
        amount=_int(value),
        sender=_checksum(sender) if sender else "",
        block_height=_int(trace["blockNumber"]),
        block_hash=str(trace["blockHash"]).lower(),
    )
