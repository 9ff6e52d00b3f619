"""The tx-hash fast path on real EVM nodes: an "Ethereum" anvil (USDT ERC-20 and ETH) and a "BSC"
anvil (USDT BEP-20, chain id 56), through ``POST /api/v1/topups/{id}/tx-hash/``.

A client with a USDT ERC-20 top-up pastes hashes of what they may really have sent: USDT on BSC or
ETH to the same address (``wrong_network``, naming the network), a reverted transfer
(``failed_transaction``), the right payment (found at once, then confirmed and credited once by
the scanner), and one still waiting in the mempool (``pending``, found by the task once mined).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from payments.models import Deposit, LedgerTransaction, TopUp, TxLookup
from payments.selectors.ledger import balance_get
from payments.services.lookups import tx_lookup_run
from payments.tasks import scan_network
from tests.chain.anvil import Anvil
from tests.chain.conftest import token_deploy

pytestmark = [pytest.mark.anvil, pytest.mark.django_db]
ONE_USDT = 10**6


@pytest.fixture
def ethereum(chain: Anvil) -> Anvil:
    return chain


@pytest.fixture
def bsc() -> Iterator[Anvil]:
    with Anvil(chain_id=56) as node:
        yield node


def _token(chain: Anvil) -> str:
    return token_deploy(chain, mint=1_000 * ONE_USDT)


@pytest.fixture
def env(ethereum, bsc, make_network, client_profile, client_api) -> SimpleNamespace:
    common = {"confirmations": 2, "options": {"backoff_s": 0}}
    erc20_token = _token(ethereum)
    erc20 = make_network(
        "usdt-erc20", chain_id=31337, node_urls=[ethereum.url], token_contract=erc20_token, **common
    )
    bep20 = make_network("usdt-bep20", node_urls=[bsc.url], token_contract=_token(bsc), decimals=6, **common)
    make_network("eth", chain_id=31337, node_urls=[ethereum.url], **common)
    scan_network.delay(erc20.pk)  # the cursor starts before any payment
    response = client_api.post("/api/v1/topups/", {"network": "usdt-erc20", "amount": "50.00"}, format="json")
    topup = TopUp.objects.get(public_id=response.json()["id"])
    return SimpleNamespace(network=erc20, bep20=bep20, topup=topup, address=topup.address.address,
                           payer=ethereum.accounts[1])  # fmt: skip


def submit(client_api: Any, env: SimpleNamespace, tx_hash: str) -> Any:
    return client_api.post(
        f"/api/v1/topups/{env.topup.public_id}/tx-hash/", {"tx_hash": tx_hash}, format="json"
    )


def refusal(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["fields"]["tx_hash"][0].get("network", "")


def test_usdt_on_bsc_or_eth_to_an_erc20_top_up_is_wrong_network(client_api, env, ethereum, bsc):
    on_bsc = bsc.token_transfer(env.bep20.token_contract, env.address, 50 * ONE_USDT, sender=bsc.accounts[1])
    bsc.receipt(on_bsc)
    eth = ethereum.send_eth(env.address, 10**16, sender=env.payer)
    ethereum.receipt(eth)

    assert refusal(submit(client_api, env, on_bsc)) == (400, "wrong_network", "usdt-bep20")
    assert refusal(submit(client_api, env, eth)) == (400, "wrong_network", "eth")
    assert not TxLookup.objects.exists() and not Deposit.objects.exists()


def test_a_reverted_transfer_is_refused_and_the_real_payment_is_credited_once(client_api, env, ethereum):
    broke = ethereum.accounts[7]
    reverted = ethereum.transact("TetherToken", env.network.token_contract, "transfer", env.address,
                                 50 * ONE_USDT, sender=broke, gas=100_000)  # fmt: skip
    ethereum.receipt(reverted)
    assert refusal(submit(client_api, env, reverted))[:2] == (400, "failed_transaction")

    paid = ethereum.token_transfer(env.network.token_contract, env.address, 50 * ONE_USDT, sender=env.payer)
    ethereum.receipt(paid)
    response = submit(client_api, env, paid)
    assert (response.status_code, response.json()["status"]) == (200, "found")
    assert Deposit.objects.values_list("tx_hash", "status", "confirmations").get() == (paid, "pending", 1)
    ethereum.mine(1)
    scan_network.delay(env.network.pk)
    scan_network.delay(env.network.pk)

    deposit = Deposit.objects.get()
    assert (deposit.tx_hash, deposit.status) == (paid, "credited")
    assert TopUp.objects.get().status == "completed"
    assert balance_get(client=env.topup.client).available == Decimal("150.00")  # 100 seeded + 50
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 1


def test_a_pending_payment_is_pending_then_found_once_mined(
    client_api, env, ethereum, django_capture_on_commit_callbacks
):
    ethereum.set_automine(False)
    try:
        waiting = ethereum.token_transfer(
            env.network.token_contract, env.address, 50 * ONE_USDT, sender=env.payer
        )
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = submit(client_api, env, waiting)
        ethereum.mine(1)
    finally:
        ethereum.set_automine(True)

    assert (response.status_code, response.json()) == (202, {"tx_hash": waiting, "status": "pending"})
    assert len(callbacks) == 1 and not Deposit.objects.exists()
    lookup = tx_lookup_run(lookup_id=TxLookup.objects.get().pk)
    assert lookup.status == "found"
    (log,) = ethereum.receipt(waiting)["logs"]
    assert Deposit.objects.values_list("tx_hash", "index", "amount").get() == (
        waiting, log["logIndex"], 50 * ONE_USDT)  # fmt: skip
    ethereum.mine(1)
    scan_network.delay(env.network.pk)
    assert Deposit.objects.get().status == "credited"
