"""What made the scanner fast, pinned on a real node (anvil): the adapter fetches the same data
whatever the number of watched addresses and matches on lower-cased hex, and a pass near the head
is two requests: the head, and one batch that re-reads the tail with the new blocks (the re-read
blocks prove the cursor's block is still on the chain; it is asked for only when they do not)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import orjson
import pytest
from eth_typing import ChecksumAddress
from web3 import Web3

from nexora.accounts.models import ClientProfile
from payments.chains.base import NetworkSpec, Transfer
from payments.chains.evm import TRANSFER_TOPIC, EvmAdapter
from payments.models import Deposit, Network
from payments.scanner import scan_network_once
from payments.selectors.ledger import balance_get
from payments.selectors.watched import WatchedAddresses
from payments.services.networks import network_spec
from payments.services.topups import topup_create
from tests.chain.anvil import Anvil

pytestmark = pytest.mark.anvil
ONE_USDT = 10**6


def fresh_address(label: str) -> ChecksumAddress:
    return Web3.to_checksum_address(Web3.keccak(text=f"nexora-scanner-perf:{label}")[-20:])


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
    }
    for token in deployed.values():
        chain.receipt(chain.token_mint(token, chain.accounts[1], 1_000_000 * ONE_USDT, sender=owner))
    return deployed


def spec(chain: Anvil, token: str) -> NetworkSpec:
    return NetworkSpec(code="usdt-test", family="evm", urls=(chain.url,), chain_id=31337,
                       token_contract=token, decimals=6, timeout_s=5.0, options={"backoff_s": 0})  # fmt: skip


def log_queries(requests: list[httpx.Request]) -> list[dict[str, object]]:
    bodies = [orjson.loads(r.content) for r in requests]
    calls = [call for body in bodies for call in (body if isinstance(body, list) else [body])]
    return [call["params"][0] for call in calls if call["method"] == "eth_getLogs"]


def test_a_big_set_fetches_by_contract_only_and_matches_what_a_small_set_matches(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    usdt, fake, holder = tokens["usdt"], tokens["fake"], chain.accounts[1]
    to = fresh_address("paid")
    chain.set_automine(False)
    try:  # one block: the payment, a look-alike to the same address, a transfer to a stranger
        real_tx = chain.token_transfer(usdt, to, 7 * ONE_USDT, sender=holder)
        chain.token_transfer(fake, to, 9 * ONE_USDT, sender=holder)
        chain.token_transfer(usdt, fresh_address("stranger"), 5 * ONE_USDT, sender=holder)
        end = chain.mine(1)
    finally:
        chain.set_automine(True)
    block = chain.block(end)["hash"]
    big = WatchedAddresses([to, *(fresh_address(f"filler{i}") for i in range(1500))], "evm")
    small = WatchedAddresses([to], "evm")
    big_requests: list[httpx.Request] = []
    small_requests: list[httpx.Request] = []

    by_contract = EvmAdapter(
        spec(chain, usdt), client=httpx.Client(event_hooks={"request": [big_requests.append]})
    )
    with_lookalikes = EvmAdapter(
        spec(chain, usdt), client=httpx.Client(event_hooks={"request": [small_requests.append]})
    )
    big_result = by_contract.scan(end, end, big)
    small_result = with_lookalikes.scan(end, end, small)
    plain_result = with_lookalikes.scan(end, end, {to})  # a plain set (a lookup, a test) matches alike

    expected = Transfer(tx_hash=real_tx, index=0, recipient=to, amount=7 * ONE_USDT, sender=holder,
                        contract=usdt, block_height=end, block_hash=block)  # fmt: skip
    assert big_result.transfers == small_result.transfers == plain_result.transfers == (expected,)
    assert big_result.foreign == ()
    assert [t.contract for t in small_result.foreign] == [fake]
    assert small_result.foreign == plain_result.foreign
    official = {"address": usdt, "topics": [TRANSFER_TOPIC], "fromBlock": hex(end), "toBlock": hex(end)}
    assert log_queries(big_requests) == [official]  # the same official query at 1 and at 1,501 watched
    assert log_queries(small_requests)[0] == official


@pytest.mark.django_db
def test_a_pass_near_the_head_is_two_requests_and_rereads_the_tail_in_the_range_batch(
    chain: Anvil,
    tokens: dict[str, ChecksumAddress],
    make_network: Callable[..., Network],
    make_client: Callable[..., ClientProfile],
) -> None:
    usdt = tokens["usdt"]
    network = make_network("usdt-erc20@usdt-perf", chain_id=31337, node_urls=[chain.url], token_contract=usdt,
                           confirmations=2, options={"backoff_s": 0})  # fmt: skip
    client = make_client()
    topup = topup_create(client=client, network_code=network.code, amount="30.00").topup
    requests: list[httpx.Request] = []
    adapter = EvmAdapter(
        network_spec(network), client=httpx.Client(event_hooks={"request": [requests.append]})
    )
    scan_network_once(network=network, adapter=adapter)  # the cursor
    chain.receipt(
        chain.token_transfer(usdt, topup.address.address, topup.crypto_amount, sender=chain.accounts[1])
    )
    head = chain.block_number()
    requests.clear()

    outcome = scan_network_once(network=network, adapter=adapter)
    assert (outcome.blocks, outcome.transfers, Deposit.objects.get().status) == (1, 1, "pending")
    chain.mine(1)
    requests.clear()
    outcome = scan_network_once(network=network, adapter=adapter)

    assert (outcome.blocks, outcome.transfers, outcome.handed_over) == (1, 0, 1)
    assert len(requests) == 2  # the head, then one batch: the tail (the payment's block) + the new one
    assert log_queries(requests)[0]["fromBlock"] == hex(head)
    assert Deposit.objects.get().status == "credited"
    assert balance_get(client=client).available == Decimal("30.00")

    requests.clear()
    outcome = scan_network_once(network=network, adapter=adapter)  # nothing new: the tail alone
    assert (outcome.blocks, outcome.reorg_depth, len(requests)) == (0, 0, 2)


@pytest.mark.django_db
def test_a_native_pass_with_nothing_new_asks_for_the_cursors_block_and_finds_a_reorg(
    chain: Anvil, make_network: Callable[..., Network], make_client: Callable[..., ClientProfile]
) -> None:
    network = make_network("eth@eth-perf", chain_id=31337, node_urls=[chain.url], confirmations=2,
                           options={"backoff_s": 0})  # fmt: skip
    client = make_client()
    topup = topup_create(client=client, network_code=network.code, amount="30.00").topup
    requests: list[httpx.Request] = []
    counting = httpx.Client(event_hooks={"request": [requests.append]})
    adapter = EvmAdapter(network_spec(network), client=counting)
    scan_network_once(network=network, adapter=adapter)
    chain.receipt(chain.send_eth(topup.address.address, topup.crypto_amount, sender=chain.accounts[1]))
    scan_network_once(network=network, adapter=adapter)
    assert Deposit.objects.get().status == "pending"
    requests.clear()

    assert scan_network_once(network=network, adapter=adapter).reorg_depth == 0  # nothing new to read
    methods = [orjson.loads(r.content)["method"] for r in requests]
    assert methods == ["eth_blockNumber", "eth_getBlockByNumber"]
    chain.reorg(1)  # the payment's block, the cursor's, is replaced: same height, nothing new
    outcome = scan_network_once(network=network, adapter=adapter)

    assert (outcome.reorg_depth, Deposit.objects.get().status) == (1, "reorged")
