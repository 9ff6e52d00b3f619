"""TRON end to end through the scanner: the Celery task (eager) and the real TRON adapter against a
fake TronGrid on loopback (``tests.payments.fake_trongrid``, the documented response shapes).

Each scenario asserts the exact ``Outcome`` (balances, top-up, every deposit, ledger credits):
an exact TRC-20 payment, an underpaid TRX one, a block replaced before the confirmations (the
payment dropped, then mined again: one deposit, credited once), TronGrid's frequency limit (the
task retries, the beat task backs off, nothing moves until it passes), a node error, the
solidified-height confirmation rule, a look-alike token and TRX paid out by a contract wallet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from payments.models import Deposit, LookalikeTransfer, ScanCursor, TopUp
from payments.services.topups import topup_create
from payments.tasks import scan_due, scan_network
from tests.fake_http import LocalServer
from tests.outcome import expect, outcome
from tests.payments.fake_trongrid import (
    FREQUENCY_LIMIT,
    FakeTronGrid,
    account,
    contract_payout,
    h256,
    trc20_call,
    tron_grid_respond,
    trx_transfer,
)

pytestmark = pytest.mark.django_db
PAYER = account("payer")
USDT = SUN = 10**6
CONFIRMATIONS = 3


@pytest.fixture
def grid() -> Iterator[tuple[FakeTronGrid, str]]:
    fake = FakeTronGrid()
    fake.mine_empty(5)
    fake.solid_lag = 0  # every block is solidified at once unless a test says otherwise
    with LocalServer(tron_grid_respond(fake)) as server:
        yield fake, server.url


MakeRig = Callable[..., SimpleNamespace]


@pytest.fixture
def make_rig(grid, make_network, make_client) -> MakeRig:
    fake, url = grid

    def make(code: str = "usdt-trc20", amount: str = "50.00", **options: Any) -> SimpleNamespace:
        network = make_network(code, node_urls=[url], confirmations=CONFIRMATIONS, block_time_s=3,
                               options={"backoff_s": 0, **options})  # fmt: skip
        rig = SimpleNamespace(fake=fake, network=network, client=make_client())
        scan(rig)  # the cursor starts before any payment
        rig.topup = topup_create(client=rig.client, network_code=code, amount=amount).topup
        rig.address = rig.topup.address.address
        return rig

    return make


def scan(rig: SimpleNamespace) -> dict[str, Any]:
    result: dict[str, Any] = scan_network.delay(rig.network.pk).get()
    return result


def cursor(rig: SimpleNamespace) -> tuple[int, str]:
    row = ScanCursor.objects.get(network=rig.network)
    return row.height, row.block_hash


def test_an_exact_trc20_payment_is_pending_then_credited_once(make_rig):
    rig = make_rig()
    tx, _ = payment = trc20_call(PAYER, rig.address, 50 * USDT)
    rig.fake.mine([payment])
    scan(rig)
    assert outcome(rig.client, rig.topup) == expect(status="confirming", deposits=("pending",))

    rig.fake.mine_empty(CONFIRMATIONS - 1)
    scan(rig)
    scan(rig)  # another pass (a retry, another worker) changes nothing

    paid = expect(available="50.00", status="completed", credited="50.00", deposits=("credited",), credits=1)
    assert outcome(rig.client, rig.topup) == paid
    deposit = Deposit.objects.get()
    assert (deposit.tx_hash, deposit.index, deposit.amount, deposit.sender) == (
        tx["txID"],
        0,
        50 * USDT,
        PAYER,
    )
    assert cursor(rig)[0] == rig.fake.head


def test_an_underpaid_trx_payment_is_credited_for_what_arrived(make_rig):
    rig = make_rig("trx", amount="30.00")  # 120 TRX at 0.25 USD
    assert rig.topup.crypto_amount == 120 * SUN
    rig.fake.mine([trx_transfer(PAYER, rig.address, 100 * SUN)])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    scan(rig)

    assert outcome(rig.client, rig.topup) == expect(
        available="25.00", status="awaiting_payment", exception="underpaid", credited="25.00",
        deposits=("credited",), credits=1,
    )  # fmt: skip


def test_a_block_replaced_before_the_confirmations_drops_the_payment_until_mined_again(make_rig):
    rig = make_rig()
    payment = trc20_call(PAYER, rig.address, 50 * USDT)
    old = rig.fake.mine([payment])
    rig.fake.mine_empty(1)
    scan(rig)
    assert Deposit.objects.get().block_hash == old["blockID"]

    rig.fake.reorg(2)  # both blocks replaced by new ones at the same heights, the payment gone
    scan(rig)
    assert outcome(rig.client, rig.topup) == expect(status="awaiting_payment", deposits=("reorged",))
    assert cursor(rig) == (rig.fake.head, rig.fake.blocks[-1]["blockID"])

    new = rig.fake.mine([payment])  # mined again: the same transfer, the same deposit
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    scan(rig)
    paid = expect(available="50.00", status="completed", credited="50.00", deposits=("credited",), credits=1)
    assert outcome(rig.client, rig.topup) == paid
    assert Deposit.objects.get().block_hash == new["blockID"]


def test_the_frequency_limit_backs_off_and_nothing_moves_until_it_passes(make_rig, monkeypatch):
    rig = make_rig()
    rig.fake.mine([trc20_call(PAYER, rig.address, 50 * USDT)])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    before = cursor(rig)
    limit = (403, {"Success": False, "Error": FREQUENCY_LIMIT.format(15), "StatusCode": 403})
    rig.fake.failure.set(limit)

    with pytest.raises(Retry) as retry:
        scan(rig)

    assert retry.value.when == 5  # the task's first countdown (5 s, doubling up to 300)
    row = ScanCursor.objects.get(network=rig.network)
    assert (row.height, row.block_hash) == before
    assert (row.consecutive_errors, row.error_count) == (1, 1)
    assert row.last_error.startswith("RateLimited: usdt-trc20 /wallet/getnowblock failed on every URL")
    assert outcome(rig.client, rig.topup) == expect(status="awaiting_payment")
    queued: list[int] = []
    monkeypatch.setattr("payments.tasks.scan_network.delay", queued.append)
    ScanCursor.objects.filter(pk=row.pk).update(last_scan_at=timezone.now() - timedelta(minutes=5))
    scan_due()
    assert queued == []  # inside the back-off (the block time, 3 s): beat does not ask again
    ScanCursor.objects.filter(pk=row.pk).update(last_error_at=timezone.now() - timedelta(seconds=3))
    scan_due()
    assert queued == [rig.network.pk]
    monkeypatch.undo()

    rig.fake.failure.set(None)
    scan(rig)
    paid = expect(available="50.00", status="completed", credited="50.00", deposits=("credited",), credits=1)
    assert outcome(rig.client, rig.topup) == paid
    assert ScanCursor.objects.get(network=rig.network).consecutive_errors == 0


def test_a_node_error_is_retried_and_the_payment_credited_once_it_recovers(make_rig):
    rig = make_rig()
    rig.fake.mine([trc20_call(PAYER, rig.address, 50 * USDT)])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    before = cursor(rig)
    rig.fake.failure.set(
        (200, {"Error": "class org.tron.core.exception.StoreException : db closed"}), times=1
    )

    with pytest.raises(Retry):
        scan(rig)
    assert cursor(rig) == before and not Deposit.objects.exists()
    assert ScanCursor.objects.get(network=rig.network).last_error.startswith("ChainError: ")

    scan(rig)
    paid = expect(available="50.00", status="completed", credited="50.00", deposits=("credited",), credits=1)
    assert outcome(rig.client, rig.topup) == paid


def test_confirmations_count_only_up_to_the_solidified_block(make_rig):
    rig = make_rig()
    rig.fake.solid_lag = 5  # the solidified block trails the head by more than the 3 confirmations
    block = rig.fake.mine([trc20_call(PAYER, rig.address, 50 * USDT)])
    height = block["block_header"]["raw_data"]["number"]

    def at_head(head: int) -> tuple[str, int]:
        rig.fake.mine_empty(head - rig.fake.head)
        scan(rig)
        deposit = Deposit.objects.get()
        return deposit.status, deposit.confirmations

    assert at_head(height + 2) == ("pending", 0)  # 3 blocks deep, but solidified only up to height - 3
    assert at_head(height + 4) == ("pending", 2)  # solidified up to height - 1
    assert at_head(height + 5) == ("credited", 3)  # its own block solidified: final and 3 deep
    assert TopUp.objects.get().status == "completed"


def test_a_look_alike_trc20_is_recorded_for_staff_never_credited(make_rig):
    rig = make_rig()
    fake_usdt = "41" + h256("fake-usdt")[:40]
    tx, _ = payment = trc20_call(PAYER, rig.address, 1_000 * USDT, contract_hex=fake_usdt)
    rig.fake.mine([payment])
    rig.fake.mine_empty(CONFIRMATIONS)
    scan(rig)
    scan(rig)

    assert outcome(rig.client, rig.topup) == expect(status="awaiting_payment")
    row = LookalikeTransfer.objects.get()
    assert (row.tx_hash, row.index, row.amount, row.sender, row.address_id) == (
        tx["txID"], 0, 1_000 * USDT, PAYER, rig.topup.address_id)  # fmt: skip


def test_trx_paid_out_by_a_contract_wallet_is_credited_with_the_option(make_rig):
    rig = make_rig("trx", amount="30.00", internal_trx=True)
    wallet = "41" + h256("exchange hot wallet")[:40]
    tx, _ = payout = contract_payout(
        PAYER, wallet, [(account("other client"), 5 * SUN), (rig.address, 120 * SUN)]
    )
    rig.fake.mine([payout])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    scan(rig)

    paid = expect(available="30.00", status="completed", credited="30.00", deposits=("credited",), credits=1)
    assert outcome(rig.client, rig.topup) == paid
    assert Deposit.objects.values_list("tx_hash", "index", "amount").get() == (tx["txID"], 2, 120 * SUN)
