"""The EVM adapter against a real anvil (one per module) and, for provider failures, a local stub.

Each test pays fresh, never-seen addresses (``fresh_address``) and scans only the blocks it mined,
so tests are independent of their order. Outcomes are compared as whole ``Transfer`` values, so
the tx hash, index, amount (exact int), sender, contract, block and success are all pinned.
Provider failures (HTTP 429 / 413, JSON-RPC errors) come from a stub HTTP server on loopback
that answers every POST with a canned body; failover goes from that stub (or a dead port) to anvil.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import orjson
import pytest
from eth_typing import ChecksumAddress
from web3 import Web3

from payments.chains.base import (
    BlockRef,
    ChainError,
    NetworkSpec,
    RangeTooLarge,
    RateLimited,
    ScanResult,
    Transfer,
    TxReport,
)
from payments.chains.bitcoin import BitcoinAdapter
from payments.chains.evm import TRANSFER_TOPIC, EvmAdapter
from payments.chains.registry import adapter_for
from payments.chains.tron import TronAdapter
from tests.chain.anvil import Anvil
from tests.fake_http import LocalServer

pytestmark = pytest.mark.anvil

ONE_ETH = 10**18
ONE_USDT = 10**6
DEAD_URL = "http://127.0.0.1:1"


def fresh_address(label: str) -> ChecksumAddress:
    return Web3.to_checksum_address(Web3.keccak(text=f"nexora-evm-adapter:{label}")[-20:])


@pytest.fixture(scope="module")
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="module")
def tokens(chain: Anvil) -> dict[str, ChecksumAddress]:
    owner = chain.accounts[0]
    deployed = {
        "usdt": chain.deploy("TetherToken", sender=owner),
        "fake": chain.deploy("FakeUSDT", sender=owner),
        "forwarder": chain.deploy("Forwarder", sender=owner),
    }
    for token in (deployed["usdt"], deployed["fake"]):
        chain.receipt(chain.token_mint(token, chain.accounts[1], 1_000_000 * ONE_USDT, sender=owner))
    return deployed


def make_spec(urls: tuple[str, ...], *, token: str = "", **options: object) -> NetworkSpec:
    return NetworkSpec(
        code="eth-test",
        family="evm",
        urls=urls,
        chain_id=31337,
        token_contract=token,
        decimals=6 if token else 18,
        timeout_s=5.0,
        options={"backoff_s": 0, **options},
    )


def adapter(chain: Anvil, *, token: str = "", **options: object) -> EvmAdapter:
    return EvmAdapter(make_spec((chain.url,), token=token, **options))


def mined(chain: Anvil, tx_hash: str) -> tuple[int, str]:
    """Block height and hash of a mined transaction."""
    receipt = chain.receipt(tx_hash)
    return receipt["blockNumber"], receipt["blockHash"].to_0x_hex()


def in_one_block(chain: Anvil, send: Callable[[], list[str]]) -> list[str]:
    """Run ``send`` with automine off and mine its transactions into one block."""
    chain.set_automine(False)
    try:
        hashes = send()
        chain.mine(1)
    finally:
        chain.set_automine(True)
    return hashes


# -- native coin ---------------------------------------------------------------------------------


def test_native_transfers_are_detected_with_exact_amounts(chain: Anvil) -> None:
    alice, bob, stranger = fresh_address("n-alice"), fresh_address("n-bob"), fresh_address("n-stranger")
    payer = chain.accounts[2]
    amount_a, amount_b = 123_456_789_012_345_678, 10**18 + 1
    tx_a = chain.send_eth(alice, amount_a, sender=payer)
    tx_b = chain.send_eth(bob, amount_b, sender=payer)
    chain.send_eth(stranger, 5, sender=payer)
    height_a, hash_a = mined(chain, tx_a)
    height_b, hash_b = mined(chain, tx_b)

    result = adapter(chain).scan(height_a, chain.block_number(), {alice, bob})

    assert result.transfers == (
        Transfer(tx_hash=tx_a, index=0, recipient=alice, amount=amount_a, sender=payer,
                 block_height=height_a, block_hash=hash_a),
        Transfer(tx_hash=tx_b, index=0, recipient=bob, amount=amount_b, sender=payer,
                 block_height=height_b, block_hash=hash_b),
    )  # fmt: skip
    assert result.foreign == ()


def test_a_reverted_transfer_is_reported_as_failed(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    # The token contract has no receive function: plain ETH sent to it reverts, and the explicit
    # gas limit makes anvil mine the failed transaction. Watching the contract makes it a deposit.
    usdt, payer = tokens["usdt"], chain.accounts[3]
    tx = chain.rpc(
        "eth_sendTransaction", [{"from": payer, "to": usdt, "value": hex(777), "gas": hex(100_000)}]
    )
    height, block_hash = mined(chain, tx)
    assert chain.receipt(tx)["status"] == 0

    result = adapter(chain).scan(height, height, {usdt})

    assert result.transfers == (
        Transfer(tx_hash=tx, index=0, recipient=usdt, amount=777, sender=payer, block_height=height,
                 block_hash=block_hash, success=False),
    )  # fmt: skip


def test_internal_transfers_are_followed_with_trace(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    forwarder, payer = tokens["forwarder"], chain.accounts[4]
    paid, refused = fresh_address("fwd-paid"), fresh_address("fwd-refused")
    ok_tx, failed_tx = in_one_block(
        chain,
        lambda: [
            chain.transact("Forwarder", forwarder, "forward", paid, sender=payer, value=ONE_ETH // 4),
            chain.transact(
                "Forwarder", forwarder, "forwardAndFail", refused, sender=payer, value=ONE_ETH, gas=100_000
            ),
        ],
    )
    height, block_hash = mined(chain, ok_tx)
    assert chain.receipt(failed_tx)["status"] == 0

    traced = adapter(chain, trace=True).scan(height, height, {paid, refused})
    untraced = adapter(chain).scan(height, height, {paid, refused})

    # Index 1: the forwarder's call is the second trace of the transaction (the top-level call is 0).
    # The failed transaction's inner call has no error of its own but sits under a reverted frame.
    assert traced.transfers == (
        Transfer(tx_hash=ok_tx, index=1, recipient=paid, amount=ONE_ETH // 4, sender=forwarder,
                 block_height=height, block_hash=block_hash),
    )  # fmt: skip
    assert untraced.transfers == ()


def test_a_selfdestruct_refund_is_an_internal_transfer(chain: Anvil) -> None:
    heir, payer = fresh_address("selfdestruct-heir"), chain.accounts[5]
    # Init code PUSH20 <heir> SELFDESTRUCT: the new contract dies in its constructor, paying heir.
    init = "0x73" + heir[2:].lower() + "ff"
    tx = chain.rpc("eth_sendTransaction", [{"from": payer, "data": init, "value": hex(12_345)}])
    height, block_hash = mined(chain, tx)
    created = chain.receipt(tx)["contractAddress"]
    assert created is not None

    result = adapter(chain, trace=True).scan(height, height, {heir})

    assert result.transfers == (
        Transfer(tx_hash=tx, index=1, recipient=heir, amount=12_345, sender=created, block_height=height,
                 block_hash=block_hash),
    )  # fmt: skip
    assert chain.eth_balance(heir) == 12_345


def test_a_top_level_payment_is_not_reported_twice_with_trace(chain: Anvil) -> None:
    to, payer = fresh_address("trace-dedupe"), chain.accounts[5]
    tx = chain.send_eth(to, 42, sender=payer)
    height, _ = mined(chain, tx)

    result = adapter(chain, trace=True).scan(height, height, {to})

    assert [(t.tx_hash, t.index, t.amount) for t in result.transfers] == [(tx, 0, 42)]


# -- tokens --------------------------------------------------------------------------------------


def test_official_token_transfers_are_detected_with_their_log_index(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    usdt, holder = tokens["usdt"], chain.accounts[1]
    alice, bob, stranger = fresh_address("t-alice"), fresh_address("t-bob"), fresh_address("t-stranger")
    tx_stranger, tx_alice, tx_bob = in_one_block(
        chain,
        lambda: [
            chain.token_transfer(usdt, stranger, 1 * ONE_USDT, sender=holder),
            chain.token_transfer(usdt, alice, 123_456_789, sender=holder),
            chain.token_transfer(usdt, bob, 1, sender=holder),
        ],
    )
    height, block_hash = mined(chain, tx_alice)

    result = adapter(chain, token=usdt).scan(height, height, {alice, bob})

    # Log indexes count across the block: the stranger's transfer holds index 0.
    assert result.transfers == (
        Transfer(tx_hash=tx_alice, index=1, recipient=alice, amount=123_456_789, sender=holder,
                 contract=usdt, block_height=height, block_hash=block_hash),
        Transfer(tx_hash=tx_bob, index=2, recipient=bob, amount=1, sender=holder, contract=usdt,
                 block_height=height, block_hash=block_hash),
    )  # fmt: skip
    assert result.foreign == ()
    assert chain.receipt(tx_stranger)["logs"][0]["logIndex"] == 0


def test_look_alike_tokens_land_in_foreign_not_transfers(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    usdt, fake, holder = tokens["usdt"], tokens["fake"], chain.accounts[1]
    victim = fresh_address("fake-victim")
    fake_tx = chain.token_transfer(fake, victim, 500 * ONE_USDT, sender=holder)
    real_tx = chain.token_transfer(usdt, victim, 3 * ONE_USDT, sender=holder)
    start, fake_block = mined(chain, fake_tx)
    end, real_block = mined(chain, real_tx)

    result = adapter(chain, token=usdt).scan(start, end, {victim})

    assert result.foreign == (
        Transfer(tx_hash=fake_tx, index=0, recipient=victim, amount=500 * ONE_USDT, sender=holder,
                 contract=fake, block_height=start, block_hash=fake_block),
    )  # fmt: skip
    assert result.transfers == (
        Transfer(tx_hash=real_tx, index=0, recipient=victim, amount=3 * ONE_USDT, sender=holder,
                 contract=usdt, block_height=end, block_hash=real_block),
    )  # fmt: skip
    # Above the topic limit the node filters by the official contract: same transfers, no foreign.
    by_contract = adapter(chain, token=usdt, foreign_topic_limit=0).scan(start, end, {victim})
    assert by_contract == ScanResult(blocks=result.blocks, transfers=result.transfers, foreign=())


def test_transfer_from_and_split_log_queries(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    usdt, holder, spender = tokens["usdt"], chain.accounts[1], chain.accounts[6]
    to = fresh_address("transfer-from")
    start, _ = mined(chain, chain.transact("TetherToken", usdt, "approve", spender, 9, sender=holder))
    tx = chain.transact("TetherToken", usdt, "transferFrom", holder, to, 9, sender=spender)
    end = chain.mine(3)

    whole = adapter(chain, token=usdt).scan(start, end, {to})
    split = adapter(chain, token=usdt, log_range=2).scan(start, end, {to})

    assert [(t.tx_hash, t.sender, t.recipient, t.amount) for t in whole.transfers] == [(tx, holder, to, 9)]
    assert split == whole


# -- blocks, head, reorgs ------------------------------------------------------------------------


def test_every_block_of_the_range_is_returned_with_parent_links(chain: Anvil) -> None:
    end = chain.mine(5)
    start = end - 4

    blocks = adapter(chain).scan(start, end, set()).blocks

    expected = tuple(
        BlockRef(height=h, hash=b["hash"], parent_hash=b["parentHash"], timestamp=int(b["timestamp"], 16))
        for h in range(start, end + 1)
        for b in [chain.block(h)]
    )
    assert blocks == expected
    assert all(child.parent_hash == parent.hash for parent, child in itertools.pairwise(blocks))


def test_scanning_above_the_head_raises(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    head = chain.block_number()
    for scanner in (adapter(chain), adapter(chain, token=tokens["usdt"])):
        with pytest.raises(ChainError, match=f"head is #{head}"):
            scanner.scan(head - 1, head + 1, {fresh_address("above-head")})


def test_head_block_ref_and_final_height(chain: Anvil) -> None:
    node = adapter(chain)
    head = node.head()
    assert head == chain.block_number()
    raw = chain.block(head)
    assert node.block_ref(head) == BlockRef(
        height=head, hash=raw["hash"], parent_hash=raw["parentHash"], timestamp=int(raw["timestamp"], 16)
    )
    assert node.final_height() is None
    finalized = adapter(chain, finalized_tag=True).final_height()
    assert finalized == int(chain.block("finalized")["number"], 16)
    with pytest.raises(ChainError, match=f"no block #{head + 100}"):
        node.block_ref(head + 100)


def test_a_reorg_changes_the_hashes_block_ref_sees(chain: Anvil) -> None:
    dropped_to, payer = fresh_address("reorg-dropped"), chain.accounts[7]
    tx = chain.send_eth(dropped_to, 1_000, sender=payer)
    height, _ = mined(chain, tx)
    tip = chain.mine(1)
    node = adapter(chain)
    before = {h: node.block_ref(h) for h in range(height - 1, tip + 1)}
    assert node.scan(height, tip, {dropped_to}).transfers[0].tx_hash == tx

    chain.reorg(tip - height + 1)

    after = {h: node.block_ref(h) for h in range(height - 1, tip + 1)}
    assert after[height - 1] == before[height - 1]
    assert all(after[h].hash != before[h].hash for h in range(height, tip + 1))
    assert after[height].parent_hash == before[height - 1].hash
    assert node.scan(height, tip, {dropped_to}).transfers == ()
    assert node.transaction(tx, {dropped_to}) == ()


# -- one transaction -----------------------------------------------------------------------------


def test_transaction_lookup(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    usdt, holder = tokens["usdt"], chain.accounts[1]
    to = fresh_address("lookup")
    eth_tx = chain.send_eth(to, 99, sender=chain.accounts[8])
    token_tx = chain.token_transfer(usdt, to, 7, sender=holder)
    eth_height, eth_block = mined(chain, eth_tx)
    token_height, token_block = mined(chain, token_tx)

    assert adapter(chain).transaction(eth_tx.upper().replace("0X", "0x"), {to}) == (
        Transfer(tx_hash=eth_tx, index=0, recipient=to, amount=99, sender=chain.accounts[8],
                 block_height=eth_height, block_hash=eth_block),
    )  # fmt: skip
    assert adapter(chain, token=usdt).transaction(token_tx, {to}) == (
        Transfer(tx_hash=token_tx, index=0, recipient=to, amount=7, sender=holder, contract=usdt,
                 block_height=token_height, block_hash=token_block),
    )  # fmt: skip
    assert adapter(chain).transaction(eth_tx, {fresh_address("someone-else")}) == ()
    assert adapter(chain).transaction("0x" + "ab" * 32, {to}) == ()


def test_transaction_lookup_of_a_pending_and_an_internal_payment(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    to = fresh_address("lookup-pending")
    chain.set_automine(False)
    try:
        pending = chain.send_eth(to, 5, sender=chain.accounts[9])
        found = adapter(chain).transaction(pending, {to})
        chain.mine(1)
    finally:
        chain.set_automine(True)
    assert found == (Transfer(tx_hash=pending, index=0, recipient=to, amount=5, sender=chain.accounts[9]),)

    forwarded = chain.transact(
        "Forwarder", tokens["forwarder"], "forward", to, sender=chain.accounts[9], value=8
    )
    height, block_hash = mined(chain, forwarded)
    assert adapter(chain, trace=True).transaction(forwarded, {to}) == (
        Transfer(tx_hash=forwarded, index=1, recipient=to, amount=8, sender=tokens["forwarder"],
                 block_height=height, block_hash=block_hash),
    )  # fmt: skip


def test_lookup_of_a_pending_then_mined_token_payment(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    """A token payment in the mempool has no log yet: it is read from its call data and reported
    apart (its log index, half of its identity, does not exist yet); mined, it is a transfer."""
    usdt, holder = tokens["usdt"], chain.accounts[1]
    to = fresh_address("lookup-token-pending")
    node = adapter(chain, token=usdt)
    chain.set_automine(False)
    try:
        pending = chain.token_transfer(usdt, to, 5 * ONE_USDT, sender=holder)
        waiting = node.lookup(pending, {to})
        elsewhere = node.lookup(pending, {fresh_address("someone-else")})
        chain.mine(1)
    finally:
        chain.set_automine(True)
    height, block_hash = mined(chain, pending)
    (log,) = chain.receipt(pending)["logs"]

    assert waiting == TxReport(known=True, unmined_tokens=(
        Transfer(tx_hash=pending, index=0, recipient=to, amount=5 * ONE_USDT, sender=holder, contract=usdt),
    ))  # fmt: skip
    assert elsewhere == TxReport(known=True)
    assert node.lookup(pending, {to}) == TxReport(known=True, transfers=(
        Transfer(tx_hash=pending, index=log["logIndex"], recipient=to, amount=5 * ONE_USDT, sender=holder,
                 contract=usdt, block_height=height, block_hash=block_hash),
    ))  # fmt: skip
    assert adapter(chain).lookup(pending, {to}) == TxReport(known=True)  # the ETH network: no value moved


def test_lookup_of_a_reverted_token_payment(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    usdt, broke = tokens["usdt"], chain.accounts[7]  # holds no USDT: the transfer reverts
    to = fresh_address("lookup-token-reverted")
    reverted = chain.transact("TetherToken", usdt, "transfer", to, ONE_USDT, sender=broke, gas=100_000)
    height, block_hash = mined(chain, reverted)
    assert chain.receipt(reverted)["status"] == 0

    assert adapter(chain, token=usdt).lookup(reverted, {to}) == TxReport(known=True, transfers=(
        Transfer(tx_hash=reverted, index=0, recipient=to, amount=ONE_USDT, sender=broke, contract=usdt,
                 block_height=height, block_hash=block_hash, success=False),
    ))  # fmt: skip
    assert adapter(chain, token=tokens["fake"]).lookup(reverted, {to}) == TxReport(known=True)
    assert adapter(chain, token=usdt).lookup("0x" + "cd" * 32, {to}) == TxReport(known=False)


# -- batching, failover, provider errors ---------------------------------------------------------


def counting_client(requests: list[httpx.Request]) -> httpx.Client:
    return httpx.Client(event_hooks={"request": [requests.append]})


def test_a_scan_is_one_batched_post(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    usdt, to = tokens["usdt"], fresh_address("batch")
    tx = chain.token_transfer(usdt, to, 11, sender=chain.accounts[1])
    end = chain.mine(9)
    start = end - 9
    requests: list[httpx.Request] = []
    spec = make_spec((chain.url,), token=usdt)

    result = EvmAdapter(spec, client=counting_client(requests)).scan(start, end, {to})

    assert [t.tx_hash for t in result.transfers] == [tx]
    assert len(requests) == 1
    body = orjson.loads(requests[0].content)
    methods = [call["method"] for call in body]
    assert methods == ["eth_blockNumber"] + ["eth_getBlockByNumber"] * 10 + ["eth_getLogs"]
    assert body[-1]["params"][0]["topics"][0] == TRANSFER_TOPIC


def test_native_scan_asks_receipts_in_a_second_batch_only_for_matches(chain: Anvil) -> None:
    to = fresh_address("batch-native")
    tx = chain.send_eth(to, 3, sender=chain.accounts[2])
    end = chain.mine(2)
    requests: list[httpx.Request] = []
    node = EvmAdapter(make_spec((chain.url,), batch_size=2), client=counting_client(requests))

    result = node.scan(end - 2, end, {to})

    assert [t.tx_hash for t in result.transfers] == [tx]
    # 4 calls (head + 3 blocks) in batches of 2, then one receipt (a single call, not a batch).
    assert [len(orjson.loads(r.content)) if r.content.startswith(b"[") else 1 for r in requests] == [2, 2, 1]


def test_failover_skips_a_dead_url(chain: Anvil) -> None:
    to = fresh_address("failover")
    tx = chain.send_eth(to, 1_234, sender=chain.accounts[3])
    height, _ = mined(chain, tx)
    node = EvmAdapter(make_spec((DEAD_URL, chain.url)))

    assert node.head() == chain.block_number()
    assert [t.amount for t in node.scan(height, height, {to}).transfers] == [1_234]


def test_every_url_dead_is_a_chain_error() -> None:
    with pytest.raises(ChainError, match="failed on every URL") as caught:
        EvmAdapter(make_spec((DEAD_URL, "http://127.0.0.1:2"))).head()
    assert type(caught.value) is ChainError


class Stub:
    """A loopback HTTP server answering every request with ``status`` and ``body``; counts requests."""

    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body, self.requests = status, body, 0
        self.server = LocalServer(self._respond)
        self.url = self.server.url

    def _respond(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, bytes]:
        self.requests += 1
        return self.status, self.body if isinstance(self.body, bytes) else orjson.dumps(self.body)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def stub_factory() -> Iterator[Callable[[int, Any], Stub]]:
    stubs: list[Stub] = []

    def make(status: int, body: Any) -> Stub:
        stubs.append(Stub(status, body))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


def rpc_error(code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 0, "error": {"code": code, "message": message}}


def test_http_429_on_every_url_is_rate_limited(stub_factory: Callable[[int, Any], Stub]) -> None:
    first, second = stub_factory(429, b"Too Many Requests"), stub_factory(429, b"slow down")
    with pytest.raises(RateLimited, match="HTTP 429"):
        EvmAdapter(make_spec((first.url, second.url))).head()
    assert (first.requests, second.requests) == (1, 1)


def test_a_rate_limit_message_is_rate_limited(stub_factory: Callable[[int, Any], Stub]) -> None:
    stub = stub_factory(200, rpc_error(-32016, "Your app has exceeded its rate limit"))
    with pytest.raises(RateLimited):
        EvmAdapter(make_spec((stub.url,))).head()


def test_a_throttled_url_fails_over_to_the_next(
    chain: Anvil, stub_factory: Callable[[int, Any], Stub]
) -> None:
    stub = stub_factory(429, b"")
    assert EvmAdapter(make_spec((stub.url, chain.url))).head() == chain.block_number()
    assert stub.requests == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, rpc_error(-32005, "query returned more than 10000 results")),
        (200, rpc_error(-32602, "eth_getLogs block range is too large, max is 1k blocks")),
        (200, rpc_error(-32000, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range")),  # noqa: E501
        (200, rpc_error(-32602, "eth_getLogs is limited to a 10,000 range")),
        (200, rpc_error(-32000, "exceed maximum block range: 5000")),
        (413, b"Request Entity Too Large"),
    ],
)  # fmt: skip
def test_a_refused_range_is_range_too_large(
    stub_factory: Callable[[int, Any], Stub], status: int, body: Any
) -> None:
    stub = stub_factory(status, body)
    with pytest.raises(RangeTooLarge):
        EvmAdapter(make_spec((stub.url,))).scan(1, 500, {fresh_address("range")})


def test_internal_errors_and_5xx_fail_over(chain: Anvil, stub_factory: Callable[[int, Any], Stub]) -> None:
    internal = stub_factory(200, rpc_error(-32603, "internal error"))
    broken = stub_factory(502, b"<html>Bad Gateway</html>")
    garbage = stub_factory(200, b"not json at all")
    node = EvmAdapter(make_spec((internal.url, broken.url, garbage.url, chain.url)))

    head = chain.block_number()
    assert node.scan(head, head, set()).blocks[0].height == head
    assert (internal.requests, broken.requests, garbage.requests) == (1, 1, 1)


def test_registry_picks_the_adapter_by_family(chain: Anvil) -> None:
    evm = adapter_for(make_spec((chain.url,)))
    assert isinstance(evm, EvmAdapter)
    assert evm.head() == chain.block_number()
    tron_spec = NetworkSpec(code="trx", family="tron", urls=("http://127.0.0.1:1",))
    assert isinstance(adapter_for(tron_spec), TronAdapter)
    btc_spec = NetworkSpec(code="btc", family="bitcoin", urls=("http://127.0.0.1:1",))
    assert isinstance(adapter_for(btc_spec), BitcoinAdapter)
    with pytest.raises(ChainError, match="no chain adapter"):
        adapter_for(NetworkSpec(code="sol", family="solana", urls=()))
