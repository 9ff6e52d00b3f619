"""The TRON adapter against a fake TronGrid on loopback answering in the documented shapes
(``tests.payments.fake_trongrid``): blocks, TRX and TRC-20 transfers, look-alike tokens, reverted
calls, internal TRX transfers, one-transaction lookups (mined, pending, not indexed yet),
failover, throttling and the API key.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from payments.chains.base import ChainError, NetworkSpec, RateLimited, ScanResult, Transfer, TxReport
from payments.chains.tron import TronAdapter
from payments.chains.tron_address import tron_from_hex, tron_to_hex
from tests.fake_http import LocalServer
from tests.payments.fake_trongrid import (
    DEAD_URL,
    FREQUENCY_LIMIT,
    USDT,
    USDT_HEX,
    FakeTronGrid,
    account,
    contract_payout,
    h256,
    ref,
    transfer_log,
    trc20_call,
    tron_grid_respond,
    trx_transfer,
    word,
)

Json = dict[str, Any]


@pytest.fixture
def grid() -> Iterator[tuple[FakeTronGrid, str]]:
    fake = FakeTronGrid()
    with LocalServer(tron_grid_respond(fake)) as server:
        yield fake, server.url


def tron(url: str | tuple[str, ...], *, token: str = "", api_key: str = "", **options: object) -> TronAdapter:
    urls = (url,) if isinstance(url, str) else url
    spec = NetworkSpec(code="trx-test", family="tron", urls=urls, token_contract=token, decimals=6,
                       api_key=api_key, timeout_s=5.0, options={"backoff_s": 0, **options})  # fmt: skip
    return TronAdapter(spec)


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

    assert tron(url, token=USDT).lookup(token_tx["txID"].upper(), {ALICE}) == TxReport(
        known=True,
        transfers=(Transfer(tx_hash=token_tx["txID"], index=0, recipient=ALICE, amount=12_000_000,
                            sender=PAYER, contract=USDT, **at),),
    )  # fmt: skip
    assert tron(url).transaction(trx_tx["txID"], {BOB}) == (
        Transfer(tx_hash=trx_tx["txID"], index=0, recipient=BOB, amount=3_000_000, sender=PAYER, **at),
    )
    assert tron(url).lookup(pending["txID"], {ALICE}) == TxReport(
        known=True,
        transfers=(Transfer(tx_hash=pending["txID"], index=0, recipient=ALICE, amount=8, sender=PAYER),),
    )
    assert tron(url).lookup(h256("unknown"), {ALICE}) == TxReport(known=False)
    assert tron(url).lookup(trx_tx["txID"], {ALICE}) == TxReport(known=True)
    assert tron(url, token=USDT).lookup(trx_tx["txID"], {BOB}) == TxReport(known=True)


def test_pending_token_payments_are_reported_not_recorded(grid: tuple[FakeTronGrid, str]) -> None:
    """``gettransactionbyid`` knows only mined transactions: a waiting TRC-20 payment comes from the
    pending pool, and so does one mined whose info is not written yet: no log index yet."""
    fake, url = grid
    waiting, _ = trc20_call(PAYER, ALICE, 5_000_000)
    fake.pending[waiting["txID"]] = waiting
    unindexed, _ = unindexed_call = trc20_call(PAYER, ALICE, 6_000_000)
    fake.mine([unindexed_call])
    del fake.infos[unindexed["txID"]]
    node = tron(url, token=USDT)

    for tx, amount in ((waiting, 5_000_000), (unindexed, 6_000_000)):
        assert node.lookup(tx["txID"], {ALICE}) == TxReport(
            known=True,
            unmined_tokens=(Transfer(tx_hash=tx["txID"], index=0, recipient=ALICE, amount=amount,
                                     sender=PAYER, contract=USDT),),
        )  # fmt: skip
    assert node.lookup(waiting["txID"], {BOB}) == TxReport(known=True)
    assert ("/wallet/gettransactionfrompending", {"value": waiting["txID"]}) in [c[:2] for c in fake.calls]


def test_a_reverted_transfer_from_is_read_from_its_call_data(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    tx, info = trc20_call(PAYER, ALICE, 7, result="REVERT")
    owner = account("owner")  # transferFrom(owner, alice, 9) sent by PAYER, who holds an allowance
    data = "23b872dd" + word(tron_to_hex(owner)) + word(tron_to_hex(ALICE)) + f"{9:064x}"
    tx["raw_data"]["contract"][0]["parameter"]["value"]["data"] = data
    block = fake.mine([(tx, info)])

    (failed,) = tron(url, token=USDT).lookup(tx["txID"], {ALICE}).transfers

    assert failed == Transfer(tx_hash=tx["txID"], index=0, recipient=ALICE, amount=9, sender=owner,
                              contract=USDT, block_height=ref(block).height, block_hash=block["blockID"],
                              success=False)  # fmt: skip


# -- TRX moved by contract calls -----------------------------------------------------------------


def test_internal_trx_transfers_are_followed_with_the_option(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    wallet = "41" + h256("contract wallet")[:40]
    payout_tx, _ = payout = contract_payout(PAYER, wallet, [(STRANGER, 1), (ALICE, 25_000_000), (BOB, 4)])
    reverted = contract_payout(PAYER, wallet, [(ALICE, 99)], result="REVERT")
    trc10 = contract_payout(PAYER, wallet, [(ALICE, 77)], token_id="1002000")
    block = fake.mine([payout, reverted, trc10, trx_transfer(PAYER, BOB, 3)])
    at = {"block_height": ref(block).height, "block_hash": block["blockID"]}

    followed = tron(url, internal_trx=True).scan(ref(block).height, ref(block).height, {ALICE, BOB})
    plain = tron(url).scan(ref(block).height, ref(block).height, {ALICE, BOB})

    bob_direct = plain.transfers
    assert [t.amount for t in bob_direct] == [3]
    assert followed.transfers == (
        *bob_direct,
        Transfer(tx_hash=payout_tx["txID"], index=2, recipient=ALICE, amount=25_000_000,
                 sender=tron_from_hex(wallet), **at),
        Transfer(tx_hash=payout_tx["txID"], index=3, recipient=BOB, amount=4,
                 sender=tron_from_hex(wallet), **at),
    )  # fmt: skip
    assert tron(url, internal_trx=True).transaction(payout_tx["txID"], {ALICE}) == followed.transfers[1:2]


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
    fake.failure.set(failure)
    with pytest.raises(RateLimited, match=r"frequency limit|Too Many"):
        tron(url).head()


def test_an_error_answer_fails_over_then_raises(grid: tuple[FakeTronGrid, str]) -> None:
    fake, url = grid
    fake.failure.set((200, {"Error": "class org.tron.core.exception.StoreException : db closed"}))
    with pytest.raises(ChainError, match="db closed") as caught:
        tron((url, url)).head()
    assert type(caught.value) is ChainError
    assert len(fake.calls) == 2
