"""A fake TronGrid for tests: a TRON chain behind the documented java-tron HTTP API, on loopback.

``FakeTronGrid`` keeps a chain of blocks in the java-tron HTTP API's JSON (``blockID``,
``block_header.raw_data`` with ``number``/``parentHash``/``timestamp`` in ms, transactions with
``txID``, ``ret[0].contractRet`` and ``raw_data.contract[0]``), addresses in hex (``41`` + 20
bytes) and transaction infos with ``receipt.result``, ``log`` entries (20-byte hex address,
topics and data without ``0x``) and ``internal_transactions`` (``caller_address``,
``transferTo_address``, ``callValueInfo``, ``note`` in hex, ``rejected``), as
developers.tron.network documents for ``getnowblock``, ``walletsolidity/getnowblock``,
``getblockbynum``, ``getblockbylimitnext``, ``gettransactioninfobyblocknum``,
``gettransactionbyid`` (transactions in blocks only), ``gettransactionfrompending`` (the pending
pool; both answer ``{}`` for an unknown id) and ``gettransactioninfobyid``.

Switches for the scenarios: ``failure`` (answer requests so, for a while: ``fake_http.Failure``),
``solid_lag`` (how far the solidified block trails the head), ``infos_from`` (a lagging node or
another branch), ``reorg(depth)`` (replace the newest blocks: new hashes at the same heights,
their transactions dropped unless mined again) and ``pending`` (the pending pool).
Used by the adapter tests and the scanner's end-to-end tests (``test_scanner_tron``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from payments.chains.base import BlockRef
from payments.chains.tron_address import tron_from_hex, tron_to_hex
from tests.fake_http import Failure, Responder

USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
GENESIS_MS = 1_777_445_121_000
DEAD_URL = "http://127.0.0.1:1"
FREQUENCY_LIMIT = "The key exceeds the frequency limit({}), and the query server is suspended for 30s"
Json = dict[str, Any]
_serial = itertools.count()


def h256(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def account(label: str) -> str:
    """A base58 TRON address derived from a label."""
    return tron_from_hex("41" + h256("account", label)[:40])


def word(hex20: str) -> str:
    return "0" * 24 + hex20[-40:]


def trx_transfer(owner: str, to: str, amount: int, *, ret: str = "SUCCESS") -> tuple[Json, Json]:
    tx_id = h256("trx", owner, to, amount, ret, next(_serial))
    value = {"amount": amount, "owner_address": tron_to_hex(owner), "to_address": tron_to_hex(to)}
    tx = _tx(tx_id, "TransferContract", value, ret)
    return tx, {"id": tx_id, "fee": 1_100_000, "receipt": {"net_fee": 100_000, "net_usage": 268}}


def trc20_call(
    owner: str, to: str, amount: int, *, logs: list[Json] | None = None, result: str = "SUCCESS",
    contract_hex: str = USDT_HEX,
) -> tuple[Json, Json]:  # fmt: skip
    """A ``transfer(to, amount)`` call; its info logs one Transfer unless ``logs`` says otherwise."""
    tx_id = h256("trc20", owner, to, amount, result, contract_hex, len(logs or ()), next(_serial))
    data = "a9059cbb" + word(tron_to_hex(to)) + f"{amount:064x}"
    value = {"data": data, "owner_address": tron_to_hex(owner), "contract_address": contract_hex}
    tx = _tx(tx_id, "TriggerSmartContract", value, result)
    if logs is None:
        logs = [transfer_log(contract_hex, owner, to, amount)] if result == "SUCCESS" else []
    info: Json = {
        "id": tx_id,
        "fee": 13_844_850,
        "contractResult": [""],
        "contract_address": contract_hex,
        "receipt": {
            "energy_fee": 13_499_850,
            "energy_usage_total": 64_285,
            "net_fee": 345_000,
            "result": result,
        },
        "log": logs,
    }
    if result != "SUCCESS":
        info |= {"result": "FAILED", "resMessage": "5452433230"}
    return tx, info


def contract_payout(
    owner: str, wallet_hex: str, payouts: list[tuple[str, int]], *, result: str = "SUCCESS",
    rejected: bool = False, token_id: str = "",
) -> tuple[Json, Json]:  # fmt: skip
    """A call to a contract wallet that pays TRX out to ``payouts`` (``internal_transactions``)."""
    tx_id = h256("payout", owner, wallet_hex, payouts, result, next(_serial))
    data = "6a627842" + "0" * 64  # some payout function of the wallet: not a token call
    value = {"data": data, "owner_address": tron_to_hex(owner), "contract_address": wallet_hex}
    tx = _tx(tx_id, "TriggerSmartContract", value, result)
    internals = []
    for to, amount in payouts:
        call_value = {"callValue": amount} | ({"tokenId": token_id} if token_id else {})
        internal: Json = {
            "hash": h256("internal", tx_id, to),
            "caller_address": wallet_hex,
            "transferTo_address": tron_to_hex(to),
            "callValueInfo": [call_value],
            "note": b"call".hex(),
        }
        if rejected or result != "SUCCESS":
            internal["rejected"] = True
        internals.append(internal)
    receipt = {"energy_usage_total": 21_000, "net_fee": 345_000, "result": result}
    info: Json = {"id": tx_id, "fee": 345_000, "contract_address": wallet_hex, "receipt": receipt,
                  "internal_transactions": internals}  # fmt: skip
    return tx, info


def transfer_log(contract_hex: str, owner: str, to: str, amount: int) -> Json:
    topics = [TRANSFER_TOPIC, word(tron_to_hex(owner)), word(tron_to_hex(to))]
    return {"address": contract_hex[-40:], "topics": topics, "data": f"{amount:064x}"}


def _tx(tx_id: str, kind: str, value: Json, ret: str) -> Json:
    parameter = {"value": value, "type_url": f"type.googleapis.com/protocol.{kind}"}
    raw = {
        "contract": [{"parameter": parameter, "type": kind}],
        "ref_block_bytes": "262b",
        "ref_block_hash": tx_id[:16],
        "expiration": GENESIS_MS + 60_000,
        "timestamp": GENESIS_MS,
    }
    return {
        "ret": [{"contractRet": ret}],
        "signature": [h256("sig", tx_id) * 2 + "1b"],
        "txID": tx_id,
        "raw_data": raw,
        "raw_data_hex": "0a02262b2208" + tx_id[:16],
    }


class FakeTronGrid:
    """A TRON chain behind the documented HTTP endpoints, plus switches for failures."""

    def __init__(self, start: int = 66_987_560) -> None:
        self.blocks: list[Json] = []
        self.infos: dict[str, Json] = {}
        self.pending: dict[str, Json] = {}
        self.solid_lag = 19
        self.calls: list[tuple[str, Json, str]] = []  # path, body, API key header
        self.failure = Failure()  # ``failure.set((429, body), times=2)``: misbehave, then recover
        self.infos_from = "this branch"
        self.fork = 0
        self.mine([], height=start)

    @property
    def head(self) -> int:
        return int(self.blocks[-1]["block_header"]["raw_data"]["number"])

    def mine(self, txs: list[tuple[Json, Json]], *, height: int | None = None) -> Json:
        number = self.head + 1 if height is None else height
        parent = self.blocks[-1]["blockID"] if self.blocks else f"{number - 1:016x}" + h256("p")[:48]
        raw = {
            "number": number,
            "txTrieRoot": h256("trie", number),
            "witness_address": "41" + h256("w")[:40],
            "parentHash": parent,
            "version": 32,
            "timestamp": GENESIS_MS + 3000 * (number % 10_000),
        }
        block: Json = {
            "blockID": f"{number:016x}" + h256("block", number, self.fork)[:48],
            "block_header": {"raw_data": raw, "witness_signature": h256("ws", number) * 2},
        }
        if txs:
            block["transactions"] = [tx for tx, _ in txs]
        for tx, info in txs:
            self.infos[tx["txID"]] = info | {"blockNumber": number, "blockTimeStamp": raw["timestamp"]}
        self.blocks.append(block)
        return block

    def mine_empty(self, count: int) -> None:
        for _ in range(count):
            self.mine([])

    def reorg(self, depth: int, keep: Sequence[tuple[Json, Json]] = ()) -> list[Json]:
        """Replace the newest ``depth`` blocks by as many new ones; ``keep`` goes into the first."""
        dropped, self.blocks = self.blocks[-depth:], self.blocks[:-depth]
        for block in dropped:
            for tx in block.get("transactions", ()):
                self.infos.pop(tx["txID"], None)
        self.fork += 1
        return [self.mine(list(keep) if i == 0 else []) for i in range(depth)]

    @property
    def solidified(self) -> int:
        return max(self.first, self.head - self.solid_lag)

    @property
    def first(self) -> int:
        return int(self.blocks[0]["block_header"]["raw_data"]["number"])

    def by_number(self, number: int) -> Json:
        index = number - self.first
        return self.blocks[index] if 0 <= index < len(self.blocks) else {}

    def answer(self, path: str, body: Json) -> tuple[int, Any]:
        failure = self.failure.take()
        if failure is not None:
            return failure
        routes = {
            "/wallet/getnowblock": lambda: self.blocks[-1],
            "/walletsolidity/getnowblock": lambda: self.by_number(self.solidified),
            "/wallet/getblockbynum": lambda: self.by_number(body["num"]),
            "/wallet/getblockbylimitnext": lambda: self.limit_next(body["startNum"], body["endNum"]),
            "/wallet/gettransactioninfobyblocknum": lambda: self.block_infos(body["num"]),
            "/wallet/gettransactionbyid": lambda: self.tx_by_id(body["value"]),
            "/wallet/gettransactionfrompending": lambda: self.pending.get(body["value"], {}),
            "/wallet/gettransactioninfobyid": lambda: self.infos.get(body["value"], {}),
        }
        route = routes.get(path)
        return (200, route()) if route else (404, {"Error": f"no such path {path}"})

    def limit_next(self, start: int, end: int) -> Json:
        if end <= start or end - start > 100:
            return {"Error": "class java.lang.IllegalArgumentException : startNum/endNum out of range"}
        found = [b for n in range(start, end) if (b := self.by_number(n))]
        return {"block": found} if found else {}

    def block_infos(self, number: int) -> list[Json]:
        infos = [self.infos[tx["txID"]] for tx in self.by_number(number).get("transactions", ())]
        if self.infos_from == "lagging node":
            return []
        if self.infos_from == "other branch":
            return [info | {"id": h256("other branch", info["id"])} for info in infos]
        return infos

    def tx_by_id(self, tx_id: str) -> Json:
        return next((tx for b in self.blocks for tx in b.get("transactions", ()) if tx["txID"] == tx_id), {})


def tron_grid_respond(fake: FakeTronGrid) -> Responder:
    """Record each call (path, JSON body, API key header), then answer from ``fake``."""

    def respond(method: str, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, Any]:
        body = orjson.loads(raw or b"{}")
        fake.calls.append((path, body, headers.get("TRON-PRO-API-KEY", "")))
        return fake.answer(path, body)

    return respond


def ref(block: Json) -> BlockRef:
    raw = block["block_header"]["raw_data"]
    return BlockRef(raw["number"], block["blockID"], raw["parentHash"], raw["timestamp"] // 1000)
