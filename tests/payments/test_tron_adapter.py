"""The TRON adapter against a fake TronGrid on loopback answering in the documented shapes.

``FakeTronGrid`` keeps a chain of blocks in the java-tron HTTP API's JSON (``blockID``,
``block_header.raw_data`` with ``number``/``parentHash``/``timestamp`` in ms, transactions with
``txID``, ``ret[0].contractRet`` and ``raw_data.contract[0]``), addresses in hex (``41`` + 20
bytes) and transaction infos with ``receipt.result`` and ``log`` entries (20-byte hex address,
topics and data without ``0x``), as developers.tron.network documents for ``getblockbylimitnext``,
``getblockbynum``, ``getnowblock``, ``gettransactioninfobyblocknum`` and ``gettransactioninfobyid``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import pytest

from payments.chains.base import BlockRef, ChainError, NetworkSpec, RateLimited, ScanResult, Transfer
from payments.chains.tron import TronAdapter
from payments.chains.tron_address import tron_from_hex, tron_to_hex
from tests.fake_http import LocalServer, Responder

USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
GENESIS_MS = 1_777_445_121_000
DEAD_URL = "http://127.0.0.1:1"
FREQUENCY_LIMIT = "The key exceeds the frequency limit({}), and the query server is suspended for 30s"
Json = dict[str, Any]


def h256(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def account(label: str) -> str:
    """A base58 TRON address derived from a label."""
    return tron_from_hex("41" + h256("account", label)[:40])


def word(hex20: str) -> str:
    return "0" * 24 + hex20[-40:]


def trx_transfer(owner: str, to: str, amount: int, *, ret: str = "SUCCESS") -> tuple[Json, Json]:
    tx_id = h256("trx", owner, to, amount, ret)
    value = {"amount": amount, "owner_address": tron_to_hex(owner), "to_address": tron_to_hex(to)}
    tx = _tx(tx_id, "TransferContract", value, ret)
    return tx, {"id": tx_id, "fee": 1_100_000, "receipt": {"net_fee": 100_000, "net_usage": 268}}


def trc20_call(
    owner: str, to: str, amount: int, *, logs: list[Json] | None = None, result: str = "SUCCESS",
    contract_hex: str = USDT_HEX,
) -> tuple[Json, Json]:  # fmt: skip
    """A ``transfer(to, amount)`` call; its info logs one Transfer unless ``logs`` says otherwise."""
    tx_id = h256("trc20", owner, to, amount, result, contract_hex, len(logs or ()))
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
        self.fail: tuple[int, Json] | None = None
        self.infos_from = "this branch"
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
            "blockID": f"{number:016x}" + h256("block", number)[:48],
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

    def by_number(self, number: int) -> Json:
        first = int(self.blocks[0]["block_header"]["raw_data"]["number"])
        index = number - first
        return self.blocks[index] if 0 <= index < len(self.blocks) else {}

    def answer(self, path: str, body: Json) -> tuple[int, Any]:
        if self.fail is not None:
            return self.fail
        routes = {
            "/wallet/getnowblock": lambda: self.blocks[-1],
            "/walletsolidity/getnowblock": lambda: self.by_number(self.head - self.solid_lag),
            "/wallet/getblockbynum": lambda: self.by_number(body["num"]),
            "/wallet/getblockbylimitnext": lambda: self.limit_next(body["startNum"], body["endNum"]),
            "/wallet/gettransactioninfobyblocknum": lambda: self.block_infos(body["num"]),
            "/wallet/gettransactionbyid": lambda: self.tx_by_id(body["value"]),
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
        if tx_id in self.pending:
            return self.pending[tx_id]
        return next((tx for b in self.blocks for tx in b.get("transactions", ()) if tx["txID"] == tx_id), {})


def tron_grid_respond(fake: FakeTronGrid) -> Responder:
    """Record each call (path, JSON body, API key header), then answer from ``fake``."""

    def respond(method: str, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, Any]:
        body = orjson.loads(raw or b"{}")
        fake.calls.append((path, body, headers.get("TRON-PRO-API-KEY", "")))
        return fake.answer(path, body)

    return respond


@pytest.fixture
def grid() -> Iterator[tuple[FakeTronGrid, str]]:
    fake = FakeTronGrid()
    with LocalServer(tron_grid_respond(fake)) as server:
        yield fake, server.url


def tron(url: str | tuple[str, ...], *, token: str = "", api_key: str = "") -> TronAdapter:
    urls = (url,) if isinstance(url, str) else url
    spec = NetworkSpec(code="trx-test", family="tron", urls=urls, token_contract=token, decimals=6,
                       api_key=api_key, timeout_s=5.0, options={"backoff_s": 0})  # fmt: skip
    return TronAdapter(spec)


def ref(block: Json) -> BlockRef:
    raw = block["block_header"]["raw_data"]
    return BlockRef(raw["number"], block["blockID"], raw["parentHash"], raw["timestamp"] // 1000)


ALICE, BOB, PAYER, STRANGER = account("alice"), account("bob"), account("payer"), account("stranger")


# -- TRX -----------------------------------------------------------------------------------------


def test_trx_transfers_are_detected_with_exact_amounts(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    to_alice, _ = pay_alice = trx_transfer(PAYER, ALICE, 15_000_000)
    to_stranger = trx_transfer(PAYER, STRANGER, 1)
    first = fake.mine([to_stranger, pay_alice])
    to_bob, _ = pay_bob = trx_transfer(ALICE, BOB, 1)
    token_call = trc20_call(PAYER, BOB, 9)  # a TRC-20 payment is not TRX
    second = fake.mine([pay_bob, token_call])

    result = tron(url).scan(ref(first).height, ref(second).height, {ALICE, BOB})

    assert result == ScanResult(
        blocks=(ref(first), ref(second)),
        transfers=(
            Transfer(tx_hash=to_alice["txID"], index=0, recipient=ALICE, amount=15_000_000, sender=PAYER,
                     block_height=ref(first).height, block_hash=first["blockID"]),
            Transfer(tx_hash=to_bob["txID"], index=0, recipient=BOB, amount=1, sender=ALICE,
                     block_height=ref(second).height, block_hash=second["blockID"]),
        ),
    )  # fmt: skip


def test_a_trx_transfer_whose_contract_failed_is_marked(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    tx, _ = failed = trx_transfer(PAYER, ALICE, 2_000_000, ret="FAILED")
    block = fake.mine([failed])

    (transfer,) = tron(url).scan(ref(block).height, ref(block).height, {ALICE}).transfers

    assert (transfer.tx_hash, transfer.amount, transfer.success) == (tx["txID"], 2_000_000, False)


# -- TRC-20 --------------------------------------------------------------------------------------


def test_trc20_transfers_come_from_logs_with_their_index(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    direct_tx, _ = direct = trc20_call(PAYER, ALICE, 25_123_456)
    # A payout contract's batch: one call, two Transfer logs (positions 0 and 1) plus an event.
    router = "41" + h256("router")[:40]
    other_event = {"address": router[-40:], "topics": [h256("Paid")], "data": "0" * 64}
    batch_logs = [transfer_log(USDT_HEX, PAYER, STRANGER, 5), transfer_log(USDT_HEX, PAYER, BOB, 7_000_000),
                  other_event, transfer_log(USDT_HEX, PAYER, ALICE, 1)]  # fmt: skip
    batch_tx, _ = batch = trc20_call(PAYER, STRANGER, 0, logs=batch_logs, contract_hex=router)
    block = fake.mine([direct, trx_transfer(PAYER, ALICE, 99), batch])
    at = {"block_height": ref(block).height, "block_hash": block["blockID"], "contract": USDT}

    result = tron(url, token=USDT).scan(ref(block).height, ref(block).height, {ALICE, BOB})

    assert result.transfers == (
        Transfer(tx_hash=direct_tx["txID"], index=0, recipient=ALICE, amount=25_123_456, sender=PAYER, **at),
        Transfer(tx_hash=batch_tx["txID"], index=1, recipient=BOB, amount=7_000_000, sender=PAYER, **at),
        Transfer(tx_hash=batch_tx["txID"], index=3, recipient=ALICE, amount=1, sender=PAYER, **at),
    )
    assert result.foreign == ()


def test_look_alike_trc20_goes_to_foreign(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    fake_hex = "41" + h256("fake-usdt")[:40]
    fake_tx, _ = fake_call = trc20_call(PAYER, ALICE, 1_000_000_000, contract_hex=fake_hex)
    block = fake.mine([fake_call])

    result = tron(url, token=USDT).scan(ref(block).height, ref(block).height, {ALICE})

    assert result.transfers == ()
    assert result.foreign == (
        Transfer(tx_hash=fake_tx["txID"], index=0, recipient=ALICE, amount=1_000_000_000, sender=PAYER,
                 contract=tron_from_hex(fake_hex), block_height=ref(block).height,
                 block_hash=block["blockID"]),
    )  # fmt: skip


def test_a_reverted_trc20_transfer_is_reported_as_failed(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    reverted_tx, _ = reverted = trc20_call(PAYER, ALICE, 40_000_000, result="REVERT")
    block = fake.mine([reverted, trc20_call(PAYER, STRANGER, 3, result="OUT_OF_ENERGY")])

    result = tron(url, token=USDT).scan(ref(block).height, ref(block).height, {ALICE})

    assert result.transfers == (
        Transfer(tx_hash=reverted_tx["txID"], index=0, recipient=ALICE, amount=40_000_000, sender=PAYER,
                 contract=USDT, block_height=ref(block).height, block_hash=block["blockID"], success=False),
    )  # fmt: skip


def test_token_scan_reads_infos_only_of_blocks_that_ran_contracts(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    start = fake.head + 1
    fake.mine_empty(2)
    fake.mine([trx_transfer(PAYER, ALICE, 5)])  # no contract ran: no logs to read
    fake.mine([trc20_call(PAYER, ALICE, 5)])
    fake.calls.clear()

    tron(url, token=USDT).scan(start, fake.head, {ALICE})

    assert [(path, body) for path, body, _ in fake.calls] == [
        ("/wallet/getblockbylimitnext", {"startNum": start, "endNum": fake.head + 1}),
        ("/wallet/gettransactioninfobyblocknum", {"num": fake.head}),
    ]


@pytest.mark.parametrize("source", ["lagging node", "other branch"])
def test_infos_not_of_the_scanned_block_fail_the_scan(grid: tuple[FakeTronGrid, str], source: str) -> None:
    fake, url = grid
    block = fake.mine([trc20_call(PAYER, ALICE, 5)])
    fake.infos_from = source
    with pytest.raises(ChainError, match="incomplete answer to /wallet/gettransactioninfobyblocknum"):
        tron(url, token=USDT).scan(ref(block).height, ref(block).height, {ALICE})


# -- blocks, heights -----------------------------------------------------------------------------


def test_long_ranges_are_read_100_blocks_per_call_with_parent_links(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    start = fake.head + 1
    fake.mine_empty(150)
    fake.calls.clear()

    blocks = tron(url).scan(start, start + 149, set()).blocks

    assert [b.height for b in blocks] == list(range(start, start + 150))
    assert blocks == tuple(ref(fake.by_number(h)) for h in range(start, start + 150))
    assert all(child.parent_hash == parent.hash for parent, child in itertools.pairwise(blocks))
    assert blocks[0].timestamp == fake.by_number(start)["block_header"]["raw_data"]["timestamp"] // 1000
    assert [body for _, body, _ in fake.calls] == [
        {"startNum": start, "endNum": start + 100},
        {"startNum": start + 100, "endNum": start + 150},
    ]


def test_scanning_above_the_head_raises(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    fake.mine_empty(2)
    with pytest.raises(ChainError, match="incomplete answer to /wallet/getblockbylimitnext"):
        tron(url).scan(fake.head - 1, fake.head + 1, {ALICE})


def test_head_solidified_height_and_block_ref(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    fake.mine_empty(30)
    node = tron(url)

    assert node.head() == fake.head
    assert node.final_height() == fake.head - 19
    assert node.block_ref(fake.head - 3) == ref(fake.by_number(fake.head - 3))
    with pytest.raises(ChainError, match="getblockbynum"):
        node.block_ref(fake.head + 1)


# -- one transaction -----------------------------------------------------------------------------


def test_transaction_lookup(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    token_tx, _ = token_call = trc20_call(PAYER, ALICE, 12_000_000)
    trx_tx, _ = trx = trx_transfer(PAYER, BOB, 3_000_000)
    block = fake.mine([token_call, trx])
    pending, _ = trx_transfer(PAYER, ALICE, 8)
    fake.pending[pending["txID"]] = pending
    at = {"block_height": ref(block).height, "block_hash": block["blockID"]}

    assert tron(url, token=USDT).transaction(token_tx["txID"].upper(), {ALICE}) == (
        Transfer(tx_hash=token_tx["txID"], index=0, recipient=ALICE, amount=12_000_000, sender=PAYER,
                 contract=USDT, **at),
    )  # fmt: skip
    assert tron(url).transaction(trx_tx["txID"], {BOB}) == (
        Transfer(tx_hash=trx_tx["txID"], index=0, recipient=BOB, amount=3_000_000, sender=PAYER, **at),
    )
    assert tron(url).transaction(pending["txID"], {ALICE}) == (
        Transfer(tx_hash=pending["txID"], index=0, recipient=ALICE, amount=8, sender=PAYER),
    )
    assert tron(url).transaction(h256("unknown"), {ALICE}) == ()
    assert tron(url).transaction(trx_tx["txID"], {ALICE}) == ()


# -- failover, throttling, API key ---------------------------------------------------------------


def test_failover_skips_a_dead_url_and_sends_the_api_key(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    assert tron((DEAD_URL, url), api_key="k-123").head() == fake.head
    assert fake.calls[-1] == ("/wallet/getnowblock", {}, "k-123")


@pytest.mark.parametrize(
    "failure",
    [
        (429, {"Error": "Too Many Requests"}),
        (403, {"Success": False, "Error": FREQUENCY_LIMIT.format(15), "StatusCode": 403}),
        (503, {"Error": FREQUENCY_LIMIT.format(20)}),
    ],
)
def test_throttling_is_rate_limited(grid: tuple[FakeTronGrid, str], failure: tuple[int, Json]) -> None:
    fake, url = grid
    fake.fail = failure
    with pytest.raises(RateLimited, match=r"frequency limit|Too Many"):
        tron(url).head()


def test_an_error_answer_fails_over_then_raises(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    fake.fail = (200, {"Error": "class org.tron.core.exception.StoreException : db closed"})
    with pytest.raises(ChainError, match="db closed") as caught:
        tron((url, url)).head()
    assert type(caught.value) is ChainError
    assert len(fake.calls) == 2
