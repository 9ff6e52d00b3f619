"""The scanner end to end on a real EVM node (anvil): token and native payments credited once,
through the Celery task and the command, across a reorg."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from payments.models import Deposit, LedgerTransaction, Network, ScanCursor, TopUp
from payments.selectors.ledger import balance_get
from payments.services.topups import topup_create
from payments.tasks import scan_network
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
    chain.receipt(chain.token_mint(token, chain.accounts[1], 1_000 * ONE_USDT, sender=chain.accounts[0]))
    return token


def anvil_network(make_network, chain: Anvil, code: str, token: str = "") -> Network:
    base = "usdt-erc20" if token else "eth"
    overrides = {"chain_id": 31337, "node_urls": [chain.url], "confirmations": 2, "options": {"backoff_s": 0}}
    if token:
        overrides["token_contract"] = token
    return make_network(f"{base}@{code}", **overrides)


def test_token_payment_is_detected_confirmed_and_credited_once(chain, usdt, make_network, make_client):
    network = anvil_network(make_network, chain, "usdt-anvil", usdt)
    client = make_client()
    assert scan_network.delay(network.pk).get()["skipped"] is False  # sets the cursor before any payment
    topup = topup_create(client=client, network_code="usdt-anvil", amount="50.00").topup
    chain.receipt(chain.token_transfer(usdt, topup.address.address, 50 * ONE_USDT, sender=chain.accounts[1]))
    scan_network.delay(network.pk)
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.confirmations, deposit.amount) == ("pending", 1, 50 * ONE_USDT)
    assert deposit.sender == chain.accounts[1]
    chain.mine(1)
    out = StringIO()
    call_command("scan_chains", "--once", "--network", "usdt-anvil", stdout=out)
    assert out.getvalue().startswith("usdt-anvil: head ")
    call_command("scan_chains", "--once", "--network", "usdt-anvil", stdout=StringIO())
    assert Deposit.objects.get().status == "credited"
    assert (TopUp.objects.get().status, TopUp.objects.get().credited_amount) == (
        "completed",
        Decimal("50.00"),
    )
    assert balance_get(client=client).available == Decimal("50.00")
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 1
    assert ScanCursor.objects.get().height == chain.block_number()


def test_native_payment_and_a_reorg_that_drops_it(chain, make_network, make_client):
    network = anvil_network(make_network, chain, "eth-anvil")
    client = make_client()
    scan_network.delay(network.pk)
    topup = topup_create(client=client, network_code="eth-anvil", amount="30.00").topup  # 0.01 ETH at 3000
    chain.receipt(chain.send_eth(topup.address.address, topup.crypto_amount))
    scan_network.delay(network.pk)
    assert Deposit.objects.get().status == "pending"
    chain.reorg(1)  # the payment's block is replaced by an empty one
    scan_network.delay(network.pk)
    assert Deposit.objects.get().status == "reorged"
    assert TopUp.objects.get().status == "awaiting_payment"
    chain.reorg(
        1, [({"from": chain.accounts[2], "to": topup.address.address, "value": topup.crypto_amount}, 0)]
    )
    chain.mine(1)
    scan_network.delay(network.pk)
    scan_network.delay(network.pk)
    deposits = list(Deposit.objects.order_by("id").values_list("status", flat=True))
    assert deposits == ["reorged", "credited"]  # a new transaction (new hash) paid it after the reorg
    assert balance_get(client=client).available == Decimal("30.00")
    assert TopUp.objects.get().status == "completed"
