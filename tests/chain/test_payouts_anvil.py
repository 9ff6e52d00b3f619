"""Refunds to source verified on a real EVM node (anvil): the client pays, the scanner credits the
payment into ``held``, a refund is requested and approved, the treasury sends a real transfer from
its own wallet, and verification reads it back through the adapter. Ledger balances are checked
exactly at every step."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from payments.hooks import Verdict, screener_register, screener_unregister
from payments.models import Deposit, PayoutRequest
from payments.selectors.ledger import balance_get, ledger_sum_mismatches, system_balance
from payments.services.payouts import payout_approve, payout_mark_sent, payout_request, payout_verify
from payments.services.topups import topup_create
from payments.tasks import payout_check, scan_network
from tests.chain.anvil import Anvil

pytestmark = [pytest.mark.anvil, pytest.mark.django_db]
ONE_USDT = 10**6


@pytest.fixture
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture
def usdt(chain: Anvil) -> str:
    token = chain.deploy("TetherToken", sender=chain.accounts[0])
    for holder in (chain.accounts[1], chain.accounts[2]):  # the client's wallet and the treasury's
        chain.receipt(chain.token_mint(token, holder, 1_000 * ONE_USDT, sender=chain.accounts[0]))
    return token


@pytest.fixture
def staff(make_staff):
    return {role: make_staff(role) for role in ("compliance_officer", "compliance_lead", "treasury")}


def anvil_network(make_network, chain: Anvil, code: str, token: str = ""):
    base = "usdt-erc20" if token else "eth"
    overrides = {"chain_id": 31337, "node_urls": [chain.url], "confirmations": 2, "options": {"backoff_s": 0}}
    if token:
        overrides["token_contract"] = token
    return make_network(f"{base}@{code}", **overrides)


def review(fact):
    return Verdict.REVIEW


def paid_into_held(chain: Anvil, network, client, amount: str, pay) -> Deposit:
    """The client pays a top-up from accounts[1]; the scanner credits it into held (AML says review)."""
    scan_network.delay(network.pk)
    topup = topup_create(client=client, network_code=network.code, amount=amount).topup
    chain.receipt(pay(topup))
    chain.mine(1)
    screener_register("deposit_confirmed", review)
    try:
        scan_network.delay(network.pk)
    finally:
        screener_unregister("deposit_confirmed", review)
    deposit = Deposit.objects.select_related("hold").get(topup=topup)
    assert (deposit.status, deposit.sender) == ("credited", chain.accounts[1])
    return deposit


def ledger(client):
    balance = balance_get(client=client)
    refunds = system_balance(code="refunds_clearing", currency="USD")
    return balance.available, balance.held, refunds, system_balance(code="payouts_settled", currency="USD")


def approved(client, deposit, network, staff, amount):
    payout = payout_request(
        client=client,
        hold=deposit.hold,
        amount=amount,
        destination=deposit.sender,
        network=network,
        reason="refund to source",
        actor=staff["compliance_officer"],
    )
    return payout_approve(payout=payout, actor=staff["compliance_lead"])


def test_token_refund_sent_by_the_treasury_is_confirmed_on_chain(
    chain, usdt, make_network, make_client, staff
):
    network = anvil_network(make_network, chain, "usdt-anvil", usdt)
    client = make_client()
    deposit = paid_into_held(
        chain,
        network,
        client,
        "50.00",
        lambda t: chain.token_transfer(usdt, t.address.address, 50 * ONE_USDT, sender=chain.accounts[1]),
    )
    assert ledger(client) == (Decimal("0.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))

    payout = approved(client, deposit, network, staff, "50.00")
    assert (payout.destination, payout.units) == (chain.accounts[1], 50 * ONE_USDT)
    assert ledger(client) == (Decimal("0.00"), Decimal("0.00"), Decimal("50.00"), Decimal("0.00"))

    before = chain.token_balance(usdt, chain.accounts[1])
    tx_hash = chain.token_transfer(usdt, payout.destination, payout.units, sender=chain.accounts[2])
    chain.receipt(tx_hash)
    payout = payout_mark_sent(payout=payout, actor=staff["treasury"], tx_hash=tx_hash)
    payout = payout_verify(payout=payout)  # the network's own adapter, on anvil: 1 of 2 confirmations
    assert (payout.status, payout.confirmations) == ("sent", 1)
    assert ledger(client)[2:] == (Decimal("50.00"), Decimal("0.00"))

    chain.mine(1)
    assert payout_check.delay(payout.pk).get() == "confirmed"  # the Celery task, same path
    payout = PayoutRequest.objects.get(pk=payout.pk)
    assert (payout.delivered_units, payout.confirmations) == (50 * ONE_USDT, 2)
    assert chain.token_balance(usdt, chain.accounts[1]) == before + 50 * ONE_USDT
    assert ledger(client) == (Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("50.00"))
    assert ledger_sum_mismatches() == []


def test_token_refund_that_pays_less_settles_the_share_and_holds_the_rest(
    chain, usdt, make_network, make_client, staff
):
    network = anvil_network(make_network, chain, "usdt-anvil", usdt)
    client = make_client()
    deposit = paid_into_held(
        chain,
        network,
        client,
        "50.00",
        lambda t: chain.token_transfer(usdt, t.address.address, 50 * ONE_USDT, sender=chain.accounts[1]),
    )
    payout = approved(client, deposit, network, staff, "40.00")
    assert ledger(client) == (Decimal("0.00"), Decimal("10.00"), Decimal("40.00"), Decimal("0.00"))
    tx_hash = chain.token_transfer(usdt, payout.destination, 30 * ONE_USDT, sender=chain.accounts[2])
    chain.receipt(tx_hash)
    chain.mine(1)
    payout = payout_verify(payout=payout_mark_sent(payout=payout, actor=staff["treasury"], tx_hash=tx_hash))
    assert (payout.status, payout.delivered_units) == ("failed", 30 * ONE_USDT)
    assert ledger(client) == (Decimal("0.00"), Decimal("20.00"), Decimal("0.00"), Decimal("30.00"))
    assert payout.return_hold is not None and payout.return_hold.remaining == Decimal("10.00")


def test_a_reverted_token_refund_is_failed_at_once(chain, usdt, make_network, make_client, staff):
    network = anvil_network(make_network, chain, "usdt-anvil", usdt)
    client = make_client()
    deposit = paid_into_held(
        chain,
        network,
        client,
        "50.00",
        lambda t: chain.token_transfer(usdt, t.address.address, 50 * ONE_USDT, sender=chain.accounts[1]),
    )
    payout = approved(client, deposit, network, staff, "50.00")
    too_much = 10_000 * ONE_USDT  # more than the treasury holds: mined, reverted, no Transfer log
    tx_hash = chain.transact(
        "TetherToken", usdt, "transfer", payout.destination, too_much, sender=chain.accounts[2], gas=200_000
    )
    assert chain.receipt(tx_hash)["status"] == 0
    chain.mine(2)
    # the adapter reads the reverted call's data (payments/chains/calldata.py): no need to wait out the window
    payout = payout_verify(payout=payout_mark_sent(payout=payout, actor=staff["treasury"], tx_hash=tx_hash))
    assert (payout.status, payout.delivered_units) == ("failed", 0)
    assert ledger(client) == (Decimal("0.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))


def test_native_ether_refund(chain, make_network, make_client, staff):
    network = anvil_network(make_network, chain, "eth-anvil")
    client = make_client()
    deposit = paid_into_held(
        chain,
        network,
        client,
        "30.00",
        lambda t: chain.send_eth(t.address.address, t.crypto_amount, sender=chain.accounts[1]),
    )
    payout = approved(client, deposit, network, staff, "30.00")
    assert payout.units == 10**16  # 30 USD at 3000 USD/ETH
    before = chain.eth_balance(chain.accounts[1])
    tx_hash = chain.send_eth(payout.destination, payout.units, sender=chain.accounts[2])
    chain.receipt(tx_hash)
    chain.mine(1)
    payout = payout_verify(payout=payout_mark_sent(payout=payout, actor=staff["treasury"], tx_hash=tx_hash))
    assert (payout.status, payout.delivered_units) == ("confirmed", 10**16)
    assert chain.eth_balance(chain.accounts[1]) == before + 10**16
    assert ledger(client) == (Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("30.00"))
