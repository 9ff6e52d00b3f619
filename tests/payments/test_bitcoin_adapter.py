"""The Bitcoin adapter against a fake Esplora on loopback answering in the documented shapes
(``tests.payments.fake_esplora``): outputs to watched addresses, paging, block ranges, lookups of
mined and mempool transactions, failover and throttling.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from payments.chains.base import ChainError, NetworkSpec, RateLimited, Transfer, TxReport
from payments.chains.bitcoin import BitcoinAdapter
from tests.fake_http import LocalServer
from tests.payments.fake_esplora import (
    ALICE,
    BOB,
    DEAD_URL,
    OP_RETURN,
    PAYER,
    FakeEsplora,
    coinbase,
    h256,
    output,
    ref,
    spend,
    tx,
)


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
    assert node.lookup(h256("unknown"), {ALICE}) == TxReport(known=False)
    assert node.lookup(mined["txid"], {PAYER}) == TxReport(known=True)


# -- failover and throttling ---------------------------------------------------------------------


def test_failover_skips_a_dead_url(esplora: tuple[FakeEsplora, str]) -> None:
    fake, url = esplora
    assert btc(DEAD_URL, url).head() == fake.tip


def test_a_5xx_fails_over_to_the_next_url(
    esplora: tuple[FakeEsplora, str], second_esplora: tuple[FakeEsplora, str]
) -> None:
    broken, broken_url = esplora
    healthy, healthy_url = second_esplora
    broken.failure.set((502, "<html><body>502 Bad Gateway</body></html>"))
    assert btc(broken_url, healthy_url).head() == healthy.tip
    assert broken.paths == ["/blocks/tip/height"]


def test_an_answer_of_the_wrong_shape_fails_over(
    esplora: tuple[FakeEsplora, str], second_esplora: tuple[FakeEsplora, str]
) -> None:
    maintenance, maintenance_url = esplora
    healthy, healthy_url = second_esplora
    maintenance.failure.set((200, "<html><body>Down for maintenance</body></html>"))
    node = btc(maintenance_url, healthy_url)

    assert node.head() == healthy.tip
    assert node.block_ref(healthy.tip) == ref(healthy.blocks[-1])
    with pytest.raises(ChainError, match="ValueError: invalid literal for int"):
        btc(maintenance_url).head()


def test_429_on_every_url_is_rate_limited(
    esplora: tuple[FakeEsplora, str], second_esplora: tuple[FakeEsplora, str]
) -> None:
    for fake, _ in (esplora, second_esplora):
        fake.failure.set((429, "Too Many Requests"))
    with pytest.raises(RateLimited, match="HTTP 429"):
        btc(esplora[1], second_esplora[1]).scan(esplora[0].tip, esplora[0].tip, {ALICE})
    assert (len(esplora[0].paths), len(second_esplora[0].paths)) == (1, 1)
