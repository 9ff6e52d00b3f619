"""The scanner's read-ahead while catching up: each range is read once, the next one in the
background, and an answer read with another watched set is never used."""

from __future__ import annotations

import threading
from collections.abc import Callable, Set
from decimal import Decimal
from types import SimpleNamespace

import pytest

from nexora.accounts.models import ClientProfile
from payments.chains.base import ScanResult
from payments.models import Deposit, DepositAddress, Network, ScanCursor
from payments.scanner import scan_network_once
from payments.selectors.ledger import balance_get
from payments.services.topups import topup_create
from tests.payments.memory_chain import memory_chain

pytestmark = pytest.mark.django_db
USDT = 10**6


@pytest.fixture
def env(
    make_network: Callable[..., Network],
    make_client: Callable[..., ClientProfile],
    monkeypatch: pytest.MonkeyPatch,
) -> SimpleNamespace:
    network = make_network("usdt-erc20", confirmations=3, options={"start_height": 0})
    client = make_client()
    chain = memory_chain(network)
    calls: list[tuple[int, int, str]] = []
    real = chain.scan

    def recorded(start: int, end: int, watched: Set[str]) -> ScanResult:
        calls.append((start, end, threading.current_thread().name.split("_")[0]))
        return real(start, end, watched)

    monkeypatch.setattr(chain, "scan", recorded)
    return SimpleNamespace(network=network, client=client, chain=chain, calls=calls)


def catch_up(env: SimpleNamespace, batch: int) -> int:
    passes = 0
    while ScanCursor.objects.filter(height=env.chain.head()).count() == 0:
        scan_network_once(network=Network.objects.get(pk=env.network.pk), adapter=env.chain, batch=batch)
        passes += 1
    return passes


def test_catching_up_reads_every_range_once_the_next_one_in_the_background(env: SimpleNamespace) -> None:
    topup = topup_create(client=env.client, network_code="usdt-erc20", amount="50").topup
    env.chain.mine(8)
    env.chain.pay(topup.address.address, 50 * USDT)
    env.chain.mine(14)  # the payment in block 9; head 22

    assert catch_up(env, batch=5) == 5

    # The last range starts at 20: near the head the stored tail is read again, so no read-ahead.
    assert [(start, end) for start, end, _ in env.calls] == [(1, 5), (6, 10), (11, 15), (16, 20), (20, 22)]
    assert [thread for _, _, thread in env.calls] == ["MainThread"] + ["scan-ahead"] * 3 + ["MainThread"]
    assert Deposit.objects.get().status == "credited"
    assert balance_get(client=env.client).available == Decimal("50.00")


def test_a_read_ahead_made_with_another_watched_set_is_read_again(env: SimpleNamespace) -> None:
    late = "0x00000000000000000000000000000000000Be1a7"  # paid before its row became visible
    env.chain.mine(7)
    env.chain.pay(late, 50 * USDT)
    env.chain.mine(6)  # the payment in block 8; head 14
    scan_network_once(network=Network.objects.get(pk=env.network.pk), adapter=env.chain, batch=5)
    topup = topup_create(client=env.client, network_code="usdt-erc20", amount="50").topup
    DepositAddress.objects.filter(pk=topup.address.pk).update(address=late)

    catch_up(env, batch=5)

    ranges = [(start, end, thread) for start, end, thread in env.calls]
    assert ranges[:3] == [(1, 5, "MainThread"), (6, 10, "scan-ahead"), (6, 10, "MainThread")]
    deposit = Deposit.objects.get()
    assert (deposit.address_id, deposit.block_height, deposit.status) == (topup.address.pk, 8, "credited")
