"""TRON adapter over the TronGrid / java-tron HTTP API (``/wallet/*``, ``/walletsolidity/*``).

Design:

* Blocks come from ``POST /wallet/getblockbylimitnext`` (``[startNum, endNum)``, at most 100 per
  call) with addresses in hex (``41`` + 20 bytes); every requested height must be in the answer,
  so a range above the node's head fails instead of looking empty. Block hash = ``blockID``,
  parent = ``block_header.raw_data.parentHash``, timestamp milliseconds -> seconds.
* TRX: ``TransferContract`` entries (``raw_data.contract[0].parameter.value``: ``owner_address``,
  ``to_address``, ``amount`` in sun); success = ``ret[0].contractRet == "SUCCESS"``; index 0.
* TRX moved by contract calls (a contract wallet paying out) is followed with
  ``options.internal_trx``: for each block that runs the TVM, the transaction infos'
  ``internal_transactions`` (``caller_address``, ``transferTo_address``, ``callValueInfo[]`` whose
  entries without ``tokenId`` are TRX, ``note`` = hex of "call"/"suicide", ``rejected``) of a
  successful call; ``index`` = 1 + the entry's position. Off by default: it costs one request per
  such block (nearly every mainnet block), and the node must run with ``vm.saveInternalTx = true``
  (TronGrid does; a self-hosted node without it answers no entries, so nothing is found).
* TRC-20 (``spec.token_contract`` set): the event logs of ``POST
  /wallet/gettransactioninfobyblocknum`` for each block with a transaction that runs a contract
  (``TriggerSmartContract`` / ``CreateSmartContract``: nothing else emits logs), so ``transfer``,
  ``transferFrom`` and transfers made by other contracts are all seen. A log is
  ``{address: 20-byte hex without 41, topics: [hex without 0x], data}``; ``Transfer`` logs to a
  watched address count for the official contract, and go to ``ScanResult.foreign`` for any
  other. ``index`` = the log's position in its transaction. A reverted call emits no log, so a
  direct ``transfer`` / ``transferFrom`` call (``payments.chains.calldata``) to the official
  contract whose receipt is not ``SUCCESS`` is reported from its call data with ``success=False``
  (index 0), for the client's and the staff's information; it is never credited.
* One transaction (``lookup``): ``/wallet/gettransactionbyid`` knows only transactions in blocks;
  one still waiting is asked from ``/wallet/gettransactionfrompending`` (both answer ``{}`` when
  they do not have it). A token call that is pending, or mined but without its transaction info
  yet, is an ``unmined_tokens`` entry: its log position is not known before the info exists.
* Each such block's transaction infos must be there and belong to that block (their ids among
  the block's ``txID``s): a node that lags (answers ``[]``) or is on another branch at that height
  fails the request (next URL, then ``ChainError``) instead of passing for a block without logs.
* Requests fail over across ``spec.urls`` one by one (``payments.chains.http``); TronGrid's
  "frequency limit" answers (403/503) count as throttling. The API key goes in the
  ``TRON-PRO-API-KEY`` header. All base58 <-> hex conversions go through ``tron_address``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence, Set
from typing import Any

import httpx

from nexora.common.errors import ValidationFailed
from payments.chains.base import BlockRef, NetworkSpec, ScanResult, Transfer, TxReport
from payments.chains.calldata import token_call
from payments.chains.http import (
    Endpoints,
    NextUrl,
    Throttled,
    chain_errors,
    is_throttle_message,
    option_flag,
)
from payments.chains.tron_address import tron_from_hex, tron_to_bytes

TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
MAX_BLOCKS_PER_CALL = 100
_TVM_CONTRACTS = frozenset({"TriggerSmartContract", "CreateSmartContract"})
_VALUE_NOTES = frozenset({"call", "suicide"})  # internal transactions that hand TRX to their target
Json = dict[str, Any]


@functools.lru_cache(maxsize=1 << 16)
def _address(value: str) -> str:
    """``T...`` of a hex address (``41``-prefixed, or the bare 20 bytes of logs); "" if malformed."""
    try:
        return tron_from_hex(value)
    except ValidationFailed:
        return ""


def _block_ref(block: Json) -> BlockRef:
    raw = block["block_header"]["raw_data"]
    return BlockRef(
        height=int(raw.get("number", 0)),  # protobuf JSON omits zero values (the genesis number)
        hash=str(block["blockID"]).lower(),
        parent_hash=str(raw.get("parentHash", "")).lower(),
        timestamp=int(raw.get("timestamp", 0)) // 1000,
    )


def _is_block(answer: Any) -> bool:
    """A block, not ``{}`` (what a node answers for a block it does not have)."""
    return isinstance(answer, dict) and "blockID" in answer and "block_header" in answer


def _has_heights(wanted: list[int], answer: Any) -> bool:
    blocks = answer.get("block") if isinstance(answer, dict) else None
    return sorted(_block_ref(b).height for b in blocks or ()) == wanted


def _info_id(info: Any) -> str:
    return str(info.get("id", "")).lower() if isinstance(info, dict) else ""


def _contract(tx: Json) -> tuple[str, Json]:
    """The type and parameter value of a transaction's (single) contract."""
    contracts = tx.get("raw_data", {}).get("contract") or [{}]
    first = contracts[0]
    return str(first.get("type", "")), first.get("parameter", {}).get("value", {})


def _runs_contracts(block: Json) -> bool:
    """Whether the block has a transaction that runs the TVM, the only source of event logs."""
    return any(_contract(tx)[0] in _TVM_CONTRACTS for tx in block.get("transactions") or ())


def _tx_succeeded(tx: Json) -> bool:
    ret = tx.get("ret") or [{}]
    return ret[0].get("contractRet") == "SUCCESS"


class TronAdapter:
    def __init__(self, spec: NetworkSpec, *, client: httpx.Client | None = None) -> None:
        self.spec = spec
        headers = {"TRON-PRO-API-KEY": spec.api_key} if spec.api_key else {}
        self._http = Endpoints(spec, client=client, headers=headers)
        self._token = spec.token_contract
        self._token_hex = tron_to_bytes(spec.token_contract).hex() if spec.token_contract else ""
        self._internal = option_flag(spec, "internal_trx")

    # -- simple reads --------------------------------------------------------------------------

    def _post(self, path: str, body: Json, valid: Callable[[Any], bool] = lambda _: True) -> Any:
        """POST to the first URL whose answer is not an error and passes ``valid``."""

        def attempt(url: str) -> Any:
            answer = self._http.fetch("POST", url + path, body)
            if isinstance(answer, dict) and answer.get("Error"):
                message = str(answer["Error"])[:200]
                raise (Throttled if is_throttle_message(message) else NextUrl)(message)
            if not valid(answer):
                raise NextUrl(f"incomplete answer to {path} {body}")
            return answer

        return self._http.failover(attempt, f"{self.spec.code} {path}")

    @chain_errors
    def head(self) -> int:
        return _block_ref(self._post("/wallet/getnowblock", {}, _is_block)).height

    @chain_errors
    def final_height(self) -> int | None:
        return _block_ref(self._post("/walletsolidity/getnowblock", {}, _is_block)).height

    @chain_errors
    def block_ref(self, height: int) -> BlockRef:
        return _block_ref(self._block(height))

    def _block(self, height: int) -> Json:
        block: Json = self._post("/wallet/getblockbynum", {"num": height}, _is_block)
        return block

    # -- scanning ------------------------------------------------------------------------------

    @chain_errors
    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        if start > end:
            return ScanResult(blocks=(), transfers=())
        blocks = self._blocks(start, end)
        refs = tuple(_block_ref(b) for b in blocks)
        if not self._token:
            native = (t for b, ref in zip(blocks, refs, strict=True) for t in self._trx(b, ref, watched))
            return ScanResult(blocks=refs, transfers=tuple(native))
        official: list[Transfer] = []
        foreign: list[Transfer] = []
        for block, ref in zip(blocks, refs, strict=True):
            if _runs_contracts(block):
                infos = self._infos(block, ref)
                self._split(self._token_transfers(block, ref, infos, watched), official, foreign)
        return ScanResult(blocks=refs, transfers=tuple(official), foreign=tuple(foreign))

    def _trx(self, block: Json, ref: BlockRef, watched: Set[str]) -> Iterable[Transfer]:
        """A block's TRX payments: transfer contracts, then (``internal_trx``) contract payouts."""
        yield from _native(block, ref, watched)
        if self._internal and _runs_contracts(block):
            for info in self._infos(block, ref):
                yield from _internal_trx(info, ref, watched)

    def _blocks(self, start: int, end: int) -> list[Json]:
        blocks: list[Json] = []
        for low in range(start, end + 1, MAX_BLOCKS_PER_CALL):
            high = min(end, low + MAX_BLOCKS_PER_CALL - 1)
            # Every height must be there: a node behind ``high`` would answer a shorter list.
            complete = functools.partial(_has_heights, list(range(low, high + 1)))
            body = {"startNum": low, "endNum": high + 1}
            answer = self._post("/wallet/getblockbylimitnext", body, complete)
            blocks += sorted(answer["block"], key=lambda b: _block_ref(b).height)
        return blocks

    def _infos(self, block: Json, ref: BlockRef) -> list[Json]:
        ids = {str(tx.get("txID", "")).lower() for tx in block["transactions"]}

        def of_this_block(infos: Any) -> bool:  # a lagging node answers []; another branch, other ids
            return isinstance(infos, list) and bool(infos) and all(_info_id(i) in ids for i in infos)

        infos: list[Json] = self._post(
            "/wallet/gettransactioninfobyblocknum", {"num": ref.height}, of_this_block
        )
        return infos

    def _split(
        self, transfers: Iterable[Transfer], official: list[Transfer], foreign: list[Transfer]
    ) -> None:
        for transfer in transfers:
            (official if transfer.contract == self._token else foreign).append(transfer)

    def _token_transfers(
        self, block: Json, ref: BlockRef, infos: Sequence[Json], watched: Set[str]
    ) -> Iterable[Transfer]:
        txs = {str(tx.get("txID", "")).lower(): tx for tx in block["transactions"]}
        for info in infos:
            tx_id = str(info.get("id", "")).lower()
            yield from _log_transfers(tx_id, info, ref, watched)
            failed = self._failed_call(txs.get(tx_id, {}), info, ref, watched)
            if failed is not None:
                yield failed

    def _failed_call(self, tx: Json, info: Json, ref: BlockRef | None, watched: Set[str]) -> Transfer | None:
        """A reverted token call to the official contract for a watched recipient."""
        receipt_ok = (info.get("receipt") or {}).get("result") == "SUCCESS"
        if receipt_ok or not info:
            return None
        return self._token_call(tx, ref, watched, success=False)

    def _token_call(
        self, tx: Json, ref: BlockRef | None, watched: Set[str], *, success: bool
    ) -> Transfer | None:
        """The official-token payment a ``transfer``/``transferFrom`` call encodes, if to ``watched``."""
        kind, value = _contract(tx)
        if kind != "TriggerSmartContract":
            return None
        if str(value.get("contract_address", "")).lower()[-40:] != self._token_hex:
            return None
        call = token_call(str(value.get("data", "")))
        recipient = _address(call.recipient_hex) if call else ""
        if call is None or not recipient or recipient not in watched:
            return None
        return Transfer(
            tx_hash=str(tx["txID"]).lower(),
            index=0,
            recipient=recipient,
            amount=call.amount,
            sender=_address(call.owner_hex or str(value.get("owner_address", ""))),
            contract=self._token,
            block_height=ref.height if ref else None,
            block_hash=ref.hash if ref else None,
            success=success,
        )

    # -- one transaction -----------------------------------------------------------------------

    @chain_errors
    def lookup(self, tx_hash: str, watched: Set[str]) -> TxReport:
        tx_id = tx_hash.lower().removeprefix("0x")
        tx = self._post("/wallet/gettransactionbyid", {"value": tx_id})
        if not _is_tx(tx):
            pending = self._post("/wallet/gettransactionfrompending", {"value": tx_id})
            return self._unmined(pending, watched) if _is_tx(pending) else TxReport()
        info = self._post("/wallet/gettransactioninfobyid", {"value": tx_id})
        info = info if isinstance(info, dict) else {}
        if not info.get("blockNumber"):  # in a block, but its info is not written yet
            return self._unmined(tx, watched)
        ref = _block_ref(self._block(int(info["blockNumber"])))
        return TxReport(known=True, transfers=tuple(self._mined(tx, info, ref, watched)))

    def transaction(self, tx_hash: str, watched: Set[str]) -> tuple[Transfer, ...]:
        return self.lookup(tx_hash, watched).transfers

    def _unmined(self, tx: Json, watched: Set[str]) -> TxReport:
        if not self._token:
            return TxReport(known=True, transfers=tuple(_native({"transactions": [tx]}, None, watched)))
        call = self._token_call(tx, None, watched, success=True)
        return TxReport(known=True, unmined_tokens=(call,) if call else ())

    def _mined(self, tx: Json, info: Json, ref: BlockRef, watched: Set[str]) -> Iterable[Transfer]:
        if not self._token:
            yield from _native({"transactions": [tx]}, ref, watched)
            if self._internal:
                yield from _internal_trx(info, ref, watched)
            return
        tx_id = str(tx["txID"]).lower()
        yield from (t for t in _log_transfers(tx_id, info, ref, watched) if t.contract == self._token)
        failed = self._failed_call(tx, info, ref, watched)
        if failed is not None:
            yield failed


def _is_tx(answer: Any) -> bool:
    return isinstance(answer, dict) and bool(answer.get("txID"))


def _native(block: Json, ref: BlockRef | None, watched: Set[str]) -> Iterable[Transfer]:
    """TRX ``TransferContract`` payments to watched addresses (``ref`` None: not mined yet)."""
    for tx in block.get("transactions") or ():
        kind, value = _contract(tx)
        if kind != "TransferContract":
            continue
        recipient = _address(str(value.get("to_address", "")))
        if recipient and recipient in watched and int(value.get("amount", 0)) > 0:
            yield Transfer(
                tx_hash=str(tx["txID"]).lower(),
                index=0,
                recipient=recipient,
                amount=int(value["amount"]),
                sender=_address(str(value.get("owner_address", ""))),
                block_height=ref.height if ref else None,
                block_hash=ref.hash if ref else None,
                success=_tx_succeeded(tx) if ref else True,
            )


def _log_transfers(tx_id: str, info: Json, ref: BlockRef | None, watched: Set[str]) -> Iterable[Transfer]:
    """``Transfer`` event logs of one transaction to watched addresses, any contract."""
    success = (info.get("receipt") or {}).get("result") == "SUCCESS"
    for position, log in enumerate(info.get("log") or ()):
        topics = [str(t).lower() for t in log.get("topics") or ()]
        data = str(log.get("data", ""))
        if len(topics) != 3 or topics[0] != TRANSFER_TOPIC or len(data) != 64:
            continue
        recipient = _address(topics[2][-40:])
        if recipient and recipient in watched:
            yield Transfer(
                tx_hash=tx_id,
                index=position,
                recipient=recipient,
                amount=int(data, 16),
                sender=_address(topics[1][-40:]),
                contract=_address(str(log.get("address", ""))),
                block_height=ref.height if ref else None,
                block_hash=ref.hash if ref else None,
                success=success,
            )


def _note(internal: Json) -> str:
    try:
        return bytes.fromhex(str(internal.get("note", ""))).decode("ascii", errors="replace")
    except ValueError:
        return ""


def _internal_trx(info: Json, ref: BlockRef, watched: Set[str]) -> Iterable[Transfer]:
    """TRX that a successful contract call handed to watched addresses (``internal_transactions``)."""
    if (info.get("receipt") or {}).get("result") != "SUCCESS":
        return
    for position, internal in enumerate(info.get("internal_transactions") or ()):
        if internal.get("rejected") or _note(internal) not in _VALUE_NOTES:
            continue
        recipient = _address(str(internal.get("transferTo_address", "")))
        values = internal.get("callValueInfo") or ()
        sun = sum(int(v.get("callValue", 0)) for v in values if not v.get("tokenId"))
        if sun > 0 and recipient and recipient in watched:
            yield Transfer(
                tx_hash=_info_id(info),
                index=position + 1,
                recipient=recipient,
                amount=sun,
                sender=_address(str(internal.get("caller_address", ""))),
                block_height=ref.height,
                block_hash=ref.hash,
            )
