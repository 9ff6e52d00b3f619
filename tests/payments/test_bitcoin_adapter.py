"""The Bitcoin adapter against a fake Esplora on loopback answering in the documented shapes.

``FakeEsplora`` serves what Blockstream's ``API.md`` documents: ``/blocks/tip/height`` and
``/block-height/:h`` as plain text, ``/block/:hash`` and ``/blocks/:start_height`` (10 blocks,
newest first) as JSON with ``id``/``height``/``previousblockhash``/``timestamp``/``tx_count``,
``/block/:hash/txs/:start_index`` 25 transactions per page (without ``status``) and ``/tx/:txid``
(with ``status``). Transactions carry ``vin[].prevout`` and ``vout[]`` with ``scriptpubkey*``
fields and ``value`` in satoshis; addresses are real bech32 P2WPKH strings.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from payments.addresses import btc_p2wpkh
from payments.chains.base import BlockRef, ChainError, NetworkSpec, RateLimited, Transfer
from payments.chains.bitcoin import BitcoinAdapter
from tests.fake_http import LocalServer

DEAD_URL = "http://127.0.0.1:1"
GENESIS_TIME = 1_745_000_000
Json = dict[str, Any]
_serial = itertools.count()


def h256(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def wallet(label: str) -> tuple[str, str]:
    """A bech32 P2WPKH address and its scriptPubKey (hex)."""
    program = hashlib.sha256(label.encode()).digest()[:20]
    return btc_p2wpkh(program, "bc"), "0014" + program.hex()


def output(label: str, value: int) -> Json:
    address, script = wallet(label)
    return {
        "scriptpubkey": script,
        "scriptpubkey_asm": f"OP_0 OP_PUSHBYTES_20 {script[4:]}",
        "scriptpubkey_type": "v0_p2wpkh",
        "scriptpubkey_address": address,
        "value": value,
    }


def spend(label: str, value: int) -> Json:
    return {
        "txid": h256("prev", label, next(_serial)),
        "vout": 1,
        "prevout": output(label, value),
        "scriptsig": "",
        "scriptsig_asm": "",
        "witness": ["3044" + h256("sig")[:60], "02" + h256("key")],
        "is_coinbase": False,
        "sequence": 4294967293,
    }


def tx(inputs: list[Json], outputs: list[Json]) -> Json:
    fee = sum(i["prevout"]["value"] for i in inputs if i["prevout"]) - sum(o["value"] for o in outputs)
    return {
        "txid": h256("tx", next(_serial)),
        "version": 2,
        "locktime": 0,
        "vin": inputs,
        "vout": outputs,
        "size": 222,
        "weight": 561,
        "fee": max(fee, 0),
    }


def coinbase(miner: str) -> Json:
    vin = {
        "txid": "0" * 64,
        "vout": 4294967295,
        "prevout": None,
        "scriptsig": "03" + h256("cb")[:40],
        "scriptsig_asm": "OP_PUSHBYTES_3",
        "witness": ["0" * 64],
        "is_coinbase": True,
        "sequence": 4294967295,
    }
    return tx([vin], [output(miner, 312_500_000)])


OP_RETURN = {
    "scriptpubkey": "6a0b68656c6c6f",
    "scriptpubkey_asm": "OP_RETURN OP_PUSHBYTES_11 68656c6c6f",
    "scriptpubkey_type": "op_return",
    "value": 0,
}
ALICE, BOB, PAYER = wallet("alice")[0], wallet("bob")[0], wallet("payer")[0]


class FakeEsplora:
    def __init__(self, start: int = 890_000) -> None:
        self.blocks: list[Json] = []
        self.txs: dict[str, list[Json]] = {}
        self.mempool: dict[str, Json] = {}
        self.paths: list[str] = []
        self.fail: tuple[int, str] | None = None
        self.short_pages = False
        self.from_tip = False
        self.mine([coinbase("miner")], height=start)

    @property
    def tip(self) -> int:
        return int(self.blocks[-1]["height"])

    def mine(self, txs: list[Json], *, height: int | None = None) -> Json:
        number = self.tip + 1 if height is None else height
        parent = self.blocks[-1]["id"] if self.blocks else "00000000000000000001" + h256("p")[:44]
        block: Json = {
            "id": "0000000000000000000" + h256("block", number)[:45],
            "height": number,
            "version": 0x20000000,
            "timestamp": GENESIS_TIME + 600 * (number % 100_000),
            "tx_count": len(txs),
            "size": 1_500_000,
            "weight": 3_993_000,
            "merkle_root": h256("merkle", number),
            "previousblockhash": parent,
            "mediantime": GENESIS_TIME,
            "nonce": 2_083_236_893,
            "bits": 386_043_996,
            "difficulty": 110_451_907_374_649,
        }
        self.blocks.append(block)
        self.txs[block["id"]] = txs
        return block

    def mine_empty(self, count: int) -> None:
        for _ in range(count):
            self.mine([coinbase("miner")])

    def block_at(self, height: int) -> Json | None:
        index = height - int(self.blocks[0]["height"])
        return self.blocks[index] if 0 <= index < len(self.blocks) else None

    def answer(self, path: str) -> tuple[int, Any]:
        self.paths.append(path)
        if self.fail is not None:
            return self.fail
        parts = path.strip("/").split("/")
        if parts[:2] == ["blocks", "tip"]:
            return 200, str(self.tip) if parts[2] == "height" else self.blocks[-1]["id"]
        if parts[0] == "blocks":
            top = int(parts[1]) if len(parts) > 1 else self.tip
            if top > self.tip and not self.from_tip:
                return 404, "Block not found"
            top = min(top, self.tip)  # ``from_tip``: an implementation that answers from its tip
            return 200, [b for h in range(top, top - 10, -1) if (b := self.block_at(h))]
        if parts[0] == "block-height":
            block = self.block_at(int(parts[1]))
            return (200, block["id"]) if block else (404, "Block not found")
        if parts[0] == "block":
            return self.block_answer(parts[1:])
        if parts[0] == "tx":
            return self.tx_answer(parts[1])
        return 404, "Not Found"

    def block_answer(self, parts: list[str]) -> tuple[int, Any]:
        block = next((b for b in self.blocks if b["id"] == parts[0]), None)
        if block is None:
            return 404, "Block not found"
        if len(parts) == 1:
            return 200, block
        start = int(parts[2]) if len(parts) > 2 else 0
        if start % 25:
            return 400, "start index must be a multipication of 25"
        page = self.txs[block["id"]][start : start + 25]
        return 200, page[:-1] if self.short_pages and len(page) > 1 else page

    def tx_answer(self, txid: str) -> tuple[int, Any]:
        if txid in self.mempool:
            return 200, self.mempool[txid] | {"status": {"confirmed": False}}
        for block in self.blocks:
            for found in self.txs[block["id"]]:
                if found["txid"] == txid:
                    status = {
                        "confirmed": True,
                        "block_height": block["height"],
                        "block_hash": block["id"],
                        "block_time": block["timestamp"],
                    }
                    return 200, found | {"status": status}
        return 404, "Transaction not found"


@pytest.fixture
def esplora() -> Iterator[tuple[FakeEsplora, str]]:
    fake = FakeEsplora()
    with LocalServer(lambda method, path, headers, body: fake.answer(path)) as server:
        yield fake, server.url


@pytest.fixture
def second_esplora() -> Iterator[tuple[FakeEsplora, str]]:
    fake = FakeEsplora()
    with LocalServer(lambda method, path, headers, body: fake.answer(path)) as server:
        yield fake, server.url


def btc(*urls: str, **options: object) -> BitcoinAdapter:
    spec = NetworkSpec(code="btc-test", family="bitcoin", urls=urls, decimals=8, timeout_s=5.0,
                       options={"backoff_s": 0, **options})  # fmt: skip
    return BitcoinAdapter(spec)


def ref(block: Json) -> BlockRef:
    return BlockRef(block["height"], block["id"], block["previousblockhash"], block["timestamp"])


# -- detection -----------------------------------------------------------------------------------


def test_outputs_to_watched_addresses_are_transfers(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    two_outputs = tx(
        [spend("payer", 90_000_000)],
        [output("alice", 12_345_678), output("payer", 77_000_000), output("bob", 546), OP_RETURN],
    )
    several_payers = tx([spend("carol", 50_000), spend("dave", 60_000)], [output("alice", 100_000)])
    same_payer_twice = tx([spend("payer", 30_000), spend("payer", 40_000)], [output("bob", 69_000)])
    unwatched = tx([spend("payer", 10_000)], [output("stranger", 9_000)])
    block = fake.mine([coinbase("miner"), two_outputs, unwatched, several_payers, same_payer_twice])
    at = {"block_height": block["height"], "block_hash": block["id"]}

    result = btc(url).scan(block["height"], block["height"], {ALICE, BOB})

    assert result.blocks == (ref(block),)
    assert result.transfers == (
        Transfer(
            tx_hash=two_outputs["txid"], index=0, recipient=ALICE, amount=12_345_678, sender=PAYER, **at
        ),
        Transfer(tx_hash=two_outputs["txid"], index=2, recipient=BOB, amount=546, sender=PAYER, **at),
        Transfer(tx_hash=several_payers["txid"], index=0, recipient=ALICE, amount=100_000, sender="", **at),
        Transfer(tx_hash=same_payer_twice["txid"], index=0, recipient=BOB, amount=69_000, sender=PAYER, **at),
    )
    assert result.foreign == ()


def test_a_coinbase_payment_has_no_sender(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    block = fake.mine([coinbase("alice")])
    (transfer,) = btc(url).scan(block["height"], block["height"], {ALICE}).transfers
    assert (transfer.index, transfer.amount, transfer.sender) == (0, 312_500_000, "")


def test_block_transactions_are_read_25_per_page(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    txs = [coinbase("miner")] + [tx([spend(f"p{i}", 5_000)], [output(f"other{i}", 4_000)]) for i in range(59)]
    txs[3] = tx([spend("payer", 8_000)], [output("alice", 7_001)])
    txs[55] = tx([spend("payer", 9_000)], [output("other", 100), output("alice", 8_002)])
    block = fake.mine(txs)
    fake.paths.clear()

    result = btc(url, workers=3).scan(block["height"], block["height"], {ALICE})

    assert [(t.tx_hash, t.index, t.amount) for t in result.transfers] == [
        (txs[3]["txid"], 0, 7_001),
        (txs[55]["txid"], 1, 8_002),
    ]
    pages = sorted(p for p in fake.paths if "/txs/" in p)
    assert pages == [f"/block/{block['id']}/txs/{start}" for start in (0, 25, 50)]


def test_pages_short_of_tx_count_fail_the_scan(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    block = fake.mine([coinbase("miner")] + [tx([spend("x", 2)], [output("y", 1)]) for _ in range(30)])
    fake.short_pages = True
    with pytest.raises(ChainError, match="has 31 transactions, the pages held 29"):
        btc(url).scan(block["height"], block["height"], {ALICE})


# -- blocks, heights -----------------------------------------------------------------------------


def test_every_block_of_the_range_with_parent_links(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    start = fake.tip + 1
    fake.mine_empty(23)
    fake.paths.clear()

    blocks = btc(url).scan(start, fake.tip, set()).blocks

    assert blocks == tuple(ref(b) for b in fake.blocks[-23:])
    assert all(child.parent_hash == parent.hash for parent, child in itertools.pairwise(blocks))
    assert [p for p in fake.paths if p.startswith("/blocks/")] == [
        f"/blocks/{fake.tip}",
        f"/blocks/{fake.tip - 10}",
        f"/blocks/{fake.tip - 20}",
    ]


def test_scanning_above_the_tip_raises(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    fake.mine_empty(3)
    with pytest.raises(ChainError, match=f"/blocks/{fake.tip + 1}.*HTTP 404"):
        btc(url).scan(fake.tip - 1, fake.tip + 1, {ALICE})
    fake.from_tip = True
    with pytest.raises(ChainError, match=rf"/blocks/{fake.tip + 1} lacks blocks \[{fake.tip + 1}\]"):
        btc(url).scan(fake.tip - 1, fake.tip + 1, {ALICE})


def test_head_block_ref_and_no_finality(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    fake.mine_empty(4)
    node = btc(url)

    assert node.head() == fake.tip
    assert node.block_ref(fake.tip - 2) == ref(fake.blocks[-3])
    assert node.final_height() is None
    with pytest.raises(ChainError, match="HTTP 404"):
        node.block_ref(fake.tip + 1)


# -- one transaction -----------------------------------------------------------------------------


def test_transaction_lookup(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    mined = tx([spend("payer", 60_000)], [output("bob", 1_000), output("alice", 50_000)])
    block = fake.mine([coinbase("miner"), mined])
    waiting = tx([spend("payer", 9_000)], [output("alice", 8_000)])
    fake.mempool[waiting["txid"]] = waiting
    node = btc(url)

    assert node.transaction(mined["txid"].upper(), {ALICE}) == (
        Transfer(tx_hash=mined["txid"], index=1, recipient=ALICE, amount=50_000, sender=PAYER,
                 block_height=block["height"], block_hash=block["id"]),
    )  # fmt: skip
    assert node.transaction(waiting["txid"], {ALICE}) == (
        Transfer(tx_hash=waiting["txid"], index=0, recipient=ALICE, amount=8_000, sender=PAYER),
    )
    assert node.transaction(h256("unknown"), {ALICE}) == ()


# -- failover and throttling ---------------------------------------------------------------------


def test_failover_skips_a_dead_url(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    assert btc(DEAD_URL, url).head() == fake.tip


def test_a_5xx_fails_over_to_the_next_url(
    esplora: tuple[FakeEsplora, str], second_esplora: tuple[FakeEsplora, str]
) -> None:
    broken, broken_url = esplora
    healthy, healthy_url = second_esplora
    broken.fail = (502, "<html><body>502 Bad Gateway</body></html>")
    assert btc(broken_url, healthy_url).head() == healthy.tip
    assert broken.paths == ["/blocks/tip/height"]


def test_an_answer_of_the_wrong_shape_fails_over(
    esplora: tuple[FakeEsplora, str], second_esplora: tuple[FakeEsplora, str]
) -> None:
    maintenance, maintenance_url = esplora
    healthy, healthy_url = second_esplora
    maintenance.fail = (200, "<html><body>Down for maintenance</body></html>")
    node = btc(maintenance_url, healthy_url)

    assert node.head() == healthy.tip
    assert node.block_ref(healthy.tip) == ref(healthy.blocks[-1])
    with pytest.raises(ChainError, match="ValueError: invalid literal for int"):
        btc(maintenance_url).head()


def test_429_on_every_url_is_rate_limited(
    esplora: tuple[FakeEsplora, str], second_esplora: tuple[FakeEsplora, str]
) -> None:
    for fake, _ in (esplora, second_esplora):
        fake.fail = (429, "Too Many Requests")
    with pytest.raises(RateLimited, match="HTTP 429"):
        btc(esplora[1], second_esplora[1]).scan(esplora[0].tip, esplora[0].tip, {ALICE})
    assert (len(esplora[0].paths), len(second_esplora[0].paths)) == (1, 1)
