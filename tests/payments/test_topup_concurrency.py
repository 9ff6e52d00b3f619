"""Top-ups under concurrency on PostgreSQL: indexes never repeat, a transfer is credited once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.models import Deposit, DepositAddress, LedgerTransaction, TopUp
from payments.selectors.ledger import balance_get
from payments.services.deposits import deposit_observe
from payments.services.topups import topup_create
from tests.payments.memory_chain import memory_chain
from tests.payments.test_concurrency import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_creations_on_networks_sharing_a_key_get_distinct_indexes(make_network, make_client):
    make_network("eth")
    make_network("usdt-erc20")
    clients = [make_client() for _ in range(4)]

    def create(i: int) -> object:
        code = "eth" if i % 2 else "usdt-erc20"
        return topup_create(client=clients[i % 4], network_code=code, amount="5").topup

    results = run_threads(16, create)
    assert not [r for r in results if isinstance(r, Exception)], results
    indexes = sorted(DepositAddress.objects.values_list("index", flat=True))
    assert indexes == list(range(16))
    assert DepositAddress.objects.values("address").distinct().count() == 16
    assert TopUp.objects.count() == 16


def test_same_idempotency_key_raced_gives_one_top_up(make_network, make_client):
    make_network("usdt-trc20")
    client = make_client()
    results = run_threads(
        8,
        lambda i: topup_create(client=client, network_code="usdt-trc20", amount="5", idempotency_key="same"),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert TopUp.objects.count() == 1
    assert sum(r.created for r in results) == 1  # type: ignore[attr-defined]


def test_one_transfer_observed_by_many_workers_is_credited_once(make_network, make_client):
    network = make_network("usdt-trc20", confirmations=1)
    client = make_client()
    topup = topup_create(client=client, network_code="usdt-trc20", amount="50").topup
    chain = memory_chain(network)
    chain.pay(topup.address.address, 50 * 10**6)
    chain.mine()
    transfer = chain.blocks[1][1][0]
    results = run_threads(
        10, lambda i: deposit_observe(network=network, transfer=transfer, head=chain.head())
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Deposit.objects.count() == 1 and Deposit.objects.get().status == "credited"
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 1
    assert balance_get(client=client).available == Decimal("50.00")
    assert TopUp.objects.get().credited_amount == Decimal("50.00")
