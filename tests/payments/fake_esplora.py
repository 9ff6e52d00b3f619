"""A fake Esplora for tests: a Bitcoin chain behind the documented HTTP API, on loopback.

``FakeEsplora`` serves what Blockstream's ``API.md`` documents: ``/blocks/tip/height`` and
``/block-height/:h`` as plain text, ``/block/:hash`` and ``/blocks/:start_height`` (10 blocks,
newest first) as JSON with ``id``/``height``/``previousblockhash``/``timestamp``/``tx_count``,
``/block/:hash/txs/:start_index`` 25 transactions per page (without ``status``) and ``/tx/:txid``
(with ``status``). Transactions carry ``vin[].prevout`` and ``vout[]`` with ``scriptpubkey*``
fields and ``value`` in satoshis; addresses are real bech32 P2WPKH strings.

Switches for the scenarios: ``failure`` (answer requests so, for a while: ``fake_http.Failure``),
``short_pages``, ``from_tip`` (an implementation that answers ``/blocks/:h`` from its tip),
``reorg(depth)`` (the newest blocks replaced by new ones at the same heights) and ``mempool``.
Used by the adapter tests and the scanner's end-to-end tests (``test_scanner_bitcoin``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

from payments.addresses import btc_p2wpkh
from payments.chains.base import BlockRef
from tests.fake_http import Failure

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
        self.failure = Failure()  # ``failure.set((429, body), times=2)``: misbehave, then recover
        self.fork = 0
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
            "id": "0000000000000000000" + h256("block", number, self.fork)[:45],
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

    def reorg(self, depth: int, keep: Sequence[Json] = ()) -> list[Json]:
        """Replace the newest ``depth`` blocks by as many new ones; ``keep`` goes into the first."""
        self.blocks = self.blocks[:-depth]
        self.fork += 1
        return [self.mine([coinbase("miner"), *(keep if i == 0 else ())]) for i in range(depth)]

    def block_at(self, height: int) -> Json | None:
        index = height - int(self.blocks[0]["height"])
        return self.blocks[index] if 0 <= index < len(self.blocks) else None

    def answer(self, path: str) -> tuple[int, Any]:
        self.paths.append(path)
        failure = self.failure.take()
        if failure is not None:
            return failure
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


def ref(block: Json) -> BlockRef:
    return BlockRef(block["height"], block["id"], block["previousblockhash"], block["timestamp"])
