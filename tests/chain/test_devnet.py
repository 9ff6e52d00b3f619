"""The devnet wallet on a real anvil: ``topup_devnet_pay`` (the service behind ``devnet_pay`` and the
top-up page's button) pays ETH and USDT top-ups that the scanner then sees and credits; every
refusal sends nothing (the dev account's nonce and the address's balance are unchanged); the
devnet networks follow the node and token actually in use; a restarted chain is forgotten.

A fresh anvil per test (automine; it starts in well under a second): the database is rolled back
between tests, so address #0 is issued again, and a shared chain would still hold the last test's
payment to it. The token is each chain's first contract, so it lands at the address
``config/networks.devnet.yaml`` names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from nexora.common.errors import NexoraError
from payments.chains.registry import adapter_for
from payments.demo import ScanLoop
from payments.models import Deposit, Network, ScanCursor, ScannedBlock, TopUp
from payments.scanner import scan_network_once
from payments.selectors.ledger import balance_get
from payments.services.devnet import (
    devnet_entries,
    devnet_networks_load,
    devnet_scan_reset,
    topup_devnet_pay,
)
from payments.services.networks import network_spec
from payments.services.topups import topup_create
from tests.chain.anvil import Anvil, free_port

pytestmark = [pytest.mark.anvil, pytest.mark.django_db]
ONE_USDT = 10**6
WALLET_USDT = 1_000 * ONE_USDT
CONFIGURED_TOKEN = next(e["token_contract"] for e in devnet_entries() if e.get("token_contract"))


@pytest.fixture
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture
def token(chain: Anvil) -> str:
    address = chain.deploy("TetherToken", sender=chain.accounts[0])
    chain.receipt(chain.token_mint(address, chain.accounts[0], WALLET_USDT, sender=chain.accounts[0]))
    return address


@pytest.fixture
def devnet(chain: Anvil, token: str) -> dict[str, Network]:
    return {n.code: n for n in devnet_networks_load(node_url=chain.url, token_contract=token)}


def scan(network: Network) -> None:
    scan_network_once(network=network, adapter=adapter_for(network_spec(network)))


def pay_and_watch(chain: Anvil, network: Network, topup: TopUp, **kwargs) -> list[str]:
    """Pay from the devnet wallet, then scan block by block; the top-up statuses seen on the way."""
    payment = topup_devnet_pay(topup=topup, **kwargs)
    assert chain.receipt(payment.tx_hash)["status"] == 1
    seen = []
    for _ in range(network.confirmations + 1):
        scan(network)
        seen.append(TopUp.objects.get(pk=topup.pk).status)
        chain.mine(1)
    return seen


def test_the_token_lands_where_the_devnet_config_says(token):
    assert token == CONFIGURED_TOKEN


def test_eth_top_up_paid_from_the_wallet_is_seen_confirmed_and_credited_once(chain, devnet, make_client):
    network, client = devnet["eth-devnet"], make_client()
    scan(network)  # the cursor starts before the payment
    topup = topup_create(client=client, network_code="eth-devnet", amount="30.00").topup  # 0.01 ETH
    nonce = chain.nonce(chain.accounts[0])

    seen = pay_and_watch(chain, network, topup)

    assert chain.nonce(chain.accounts[0]) == nonce + 1
    assert chain.eth_balance(topup.address.address) == topup.crypto_amount == 10**16
    assert seen[0] == "confirming" and seen[-1] == "completed"
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.amount, deposit.sender) == ("credited", 10**16, chain.accounts[0])
    assert balance_get(client=client).available == Decimal("30.00")
    assert TopUp.objects.get().credited_amount == Decimal("30.00")


def test_usdt_top_up_paid_with_the_tokens_transfer(chain, devnet, make_client, token):
    network, client = devnet["usdt-devnet"], make_client()
    scan(network)
    topup = topup_create(client=client, network_code="usdt-devnet", amount="25.00").topup
    before = chain.token_balance(token, chain.accounts[0])

    seen = pay_and_watch(chain, network, topup)

    assert chain.token_balance(token, topup.address.address) == 25 * ONE_USDT
    assert chain.token_balance(token, chain.accounts[0]) == before - 25 * ONE_USDT
    assert seen[0] == "confirming" and seen[-1] == "completed"
    assert Deposit.objects.get().status == "credited"
    assert balance_get(client=client).available == Decimal("25.00")


def test_an_explicit_amount_in_the_asset_is_sent_instead_of_the_quote(chain, devnet, make_client, token):
    network = devnet["usdt-devnet"]
    scan(network)
    topup = topup_create(client=make_client(), network_code="usdt-devnet", amount="25.00").topup

    seen = pay_and_watch(chain, network, topup, amount="10.5")

    assert chain.token_balance(token, topup.address.address) == 10_500_000
    assert seen[-1] == "awaiting_payment"  # partly paid: the rest is still awaited
    assert TopUp.objects.get().exception == "underpaid"
    assert balance_get(client=topup.client).available == Decimal("10.50")


def test_the_command_pays_and_says_what_it_sent(chain, devnet, make_client):
    topup = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    out = StringIO()
    call_command("devnet_pay", str(topup.public_id), "--amount", "0.002", stdout=out)
    line = out.getvalue().strip()
    assert line.startswith(f"Sent 0.002 ETH from {chain.accounts[0]} to {topup.address.address} ")
    tx_hash = line.rsplit(" ", 1)[-1]
    assert chain.receipt(tx_hash)["status"] == 1
    assert chain.eth_balance(topup.address.address) == 2 * 10**15


# --- refusals: a clear error, nothing sent ------------------------------------------------------


def assert_refused(chain: Anvil, topup: TopUp, code: str, status: int, **kwargs) -> None:
    nonce, height = chain.nonce(chain.accounts[0]), chain.block_number()
    with pytest.raises(NexoraError) as caught:
        topup_devnet_pay(topup=topup, **kwargs)
    assert (caught.value.code, caught.value.status) == (code, status)
    assert (chain.nonce(chain.accounts[0]), chain.block_number()) == (nonce, height)
    assert chain.eth_balance(topup.address.address) == 0


@pytest.mark.parametrize(
    ("amount", "code"),
    [("abc", "invalid_amount"), ("-1", "invalid_amount"), (0.5, "invalid_amount"),
     ("0.0000000000000000001", "invalid_amount"), ("0", "amount_not_positive"),
     ("0.000", "amount_not_positive")],
)  # fmt: skip
def test_a_bad_amount_is_refused(chain, devnet, make_client, amount, code):
    topup = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    assert_refused(chain, topup, code, 400, amount=amount)


def test_more_than_the_wallet_holds_is_refused(chain, devnet, make_client, token):
    usdt = topup_create(client=make_client(), network_code="usdt-devnet", amount="25.00").topup
    assert_refused(chain, usdt, "devnet_insufficient_funds", 409, amount=str(2 * WALLET_USDT // ONE_USDT))
    assert chain.token_balance(token, usdt.address.address) == 0
    eth = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    assert_refused(chain, eth, "devnet_insufficient_funds", 409, amount="1000000")


def test_refused_when_the_setting_is_off_or_in_production(chain, devnet, make_client, settings):
    topup = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    settings.NEXORA_DEVNET_WALLET = False
    assert_refused(chain, topup, "devnet_wallet_disabled", 403)
    settings.NEXORA_DEVNET_WALLET, settings.PRODUCTION = True, True
    assert_refused(chain, topup, "devnet_wallet_disabled", 403)


def test_refused_on_a_network_that_is_not_a_devnet(chain, make_network, make_client):
    make_network("eth@eth-local-main", chain_id=31337, node_urls=[chain.url])  # not marked testnet
    topup = topup_create(client=make_client(), network_code="eth-local-main", amount="30.00").topup
    assert_refused(chain, topup, "not_devnet", 400)


def test_refused_when_the_node_is_another_chain(chain, make_network, make_client):
    make_network("eth@eth-test-1", chain_id=1, testnet=True, node_urls=[chain.url])
    topup = topup_create(client=make_client(), network_code="eth-test-1", amount="30.00").topup
    with pytest.raises(NexoraError) as caught:
        topup_devnet_pay(topup=topup)
    assert caught.value.code == "not_devnet"
    assert "is chain 31337, not 1" in caught.value.message
    assert chain.eth_balance(topup.address.address) == 0


def test_a_node_that_does_not_answer_is_a_503(chain, make_network, make_client):
    make_network(
        "eth@eth-test-down", chain_id=31337, testnet=True, node_urls=[f"http://127.0.0.1:{free_port()}"]
    )
    topup = topup_create(client=make_client(), network_code="eth-test-down", amount="30.00").topup
    assert_refused(chain, topup, "devnet_unreachable", 503)


def test_the_command_refuses_an_unknown_top_up_or_a_bad_amount(chain, devnet, make_client):
    nonce = chain.nonce(chain.accounts[0])
    with pytest.raises(CommandError, match=r"^not_found: No top-up 'nope'"):
        call_command("devnet_pay", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match=r"^not_found: No top-up '00000000-0000-0000-0000-000000000000'"):
        call_command("devnet_pay", "00000000-0000-0000-0000-000000000000", stdout=StringIO())
    topup = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    with pytest.raises(CommandError, match=r"^invalid_amount: "):
        call_command("devnet_pay", str(topup.public_id), "--amount", "1e-30", stdout=StringIO())
    assert chain.nonce(chain.accounts[0]) == nonce


# --- the devnet networks and a restarted chain -------------------------------------------------


def test_the_networks_follow_the_node_and_token_in_use(chain, token):
    loaded = devnet_networks_load(node_url="http://127.0.0.1:18545", token_contract=chain.accounts[5])
    assert [n.code for n in loaded] == ["eth-devnet", "usdt-devnet"]
    assert all(n.node_urls == ["http://127.0.0.1:18545"] and n.testnet for n in loaded)
    assert (loaded[0].token_contract, loaded[1].token_contract) == ("", chain.accounts[5])
    as_written = {n.code: n for n in devnet_networks_load()}
    assert as_written["usdt-devnet"].node_urls == ["http://127.0.0.1:8545"]
    assert as_written["usdt-devnet"].token_contract == CONFIGURED_TOKEN


def test_a_restarted_chain_is_forgotten_and_unconfirmed_payments_dropped(chain, devnet, make_client):
    network = devnet["eth-devnet"]
    scan(network)
    credited = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    pay_and_watch(chain, network, credited)
    waiting = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    chain.receipt(topup_devnet_pay(topup=waiting).tx_hash)
    scan(network)
    assert TopUp.objects.get(pk=waiting.pk).status == "confirming"

    assert devnet_scan_reset(network=network) == 1

    assert not ScanCursor.objects.filter(network=network).exists()
    assert not ScannedBlock.objects.filter(network=network).exists()
    statuses = dict(Deposit.objects.values_list("topup_id", "status"))
    assert statuses == {credited.pk: "credited", waiting.pk: "reorged"}
    assert TopUp.objects.get(pk=waiting.pk).status == "awaiting_payment"
    assert TopUp.objects.get(pk=credited.pk).status == "completed"
    assert balance_get(client=credited.client).available == Decimal("30.00")


def test_the_reset_refuses_a_real_network(make_network):
    network = make_network("eth")
    with pytest.raises(NexoraError) as caught:
        devnet_scan_reset(network=network)
    assert caught.value.code == "not_devnet"


# --- the demo's scanner loop ---------------------------------------------------------------------


def test_the_demo_scanner_pass_reports_each_network_and_survives_a_dead_node(
    chain, devnet, make_network, make_client
):
    dead = f"http://127.0.0.1:{free_port()}"
    make_network("eth@eth-test-down", chain_id=31337, testnet=True, node_urls=[dead], quote_window_s=1)
    stale = topup_create(client=make_client(), network_code="eth-test-down", amount="30.00").topup
    loop = ScanLoop(interval=1, out=lambda line: None)
    time.sleep(1.1)  # the stale top-up's one-second quote window passes
    first = loop.scan_pass()
    assert re.fullmatch(
        r"eth-devnet #\d+ \+\d+ · eth-test-down unreachable \(.+\) · usdt-devnet #\d+ \+\d+ · "
        r"1 top-up\(s\) expired",
        first,
    ), first
    assert TopUp.objects.get(pk=stale.pk).status == "expired"
    topup = topup_create(client=make_client(), network_code="eth-devnet", amount="30.00").topup
    chain.receipt(topup_devnet_pay(topup=topup).tx_hash)
    second = loop.scan_pass()
    assert re.match(r"eth-devnet #\d+ \+1, 1 transfer\(s\) · eth-test-down unreachable", second), second
    assert loop.passes == 2


@pytest.mark.django_db(transaction=True)
def test_the_demo_scanner_thread_logs_every_pass_and_stops_promptly():
    lines: list[str] = []
    loop = ScanLoop(interval=0.05, out=lines.append)
    loop.start()
    deadline = time.monotonic() + 10
    while len(lines) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    loop.stop()
    assert not loop.is_alive() and time.monotonic() - started < 2
    assert len(lines) >= 3
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d scan: no enabled network", line) for line in lines)
