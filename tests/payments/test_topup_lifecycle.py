"""The top-up lifecycle end to end through the deposit services, on an in-memory chain.

Each scenario pays a top-up's address on ``MemoryChain``, lets ``MemoryScanner`` run the same
services the real scanner calls, and asserts the exact top-up status, exception, credited amount
and ledger balances.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from nexora.common.models import StatusChange
from payments.hooks import Verdict, screener_register, screener_unregister
from payments.models import Deposit, DepositStatus, Hold, LedgerTransaction, TopUp
from payments.selectors.ledger import balance_get
from payments.selectors.topups import topup_confirmations
from payments.services.deposits import topup_credit
from payments.services.topups import topup_create, topups_expire_due
from tests.payments.memory_chain import MemoryScanner, memory_chain

pytestmark = pytest.mark.django_db

USDT = 10**6


@pytest.fixture
def setup(make_network, make_client):
    network = make_network("usdt-erc20", confirmations=3)
    client = make_client()
    chain = memory_chain(network)
    return SimpleNamespace(network=network, client=client, chain=chain, scanner=MemoryScanner(network, chain))


def fresh(topup: TopUp) -> TopUp:
    return TopUp.objects.get(pk=topup.pk)


def create(client, amount="50.00", network="usdt-erc20") -> TopUp:
    return topup_create(client=client, network_code=network, amount=amount).topup


def test_exact_payment_is_confirmed_then_credited_once(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    assert topup.crypto_amount == 50 * USDT and topup.status == "awaiting_payment"
    chain.pay(topup.address.address, 50 * USDT)
    chain.mine()
    scanner.sync()
    topup = fresh(topup)
    assert topup.status == "confirming"
    assert topup_confirmations(TopUp.objects.prefetch_related("deposits").get(pk=topup.pk)) == 1
    chain.mine(2)
    scanner.sync()
    scanner.sync()  # a second pass (another worker, a retry) changes nothing
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == ("completed", "none", Decimal("50.00"))
    assert balance_get(client=client).available == Decimal("50.00")
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 1
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.confirmations, deposit.late) == ("credited", 3, False)
    moves = list(
        StatusChange.objects.filter(entity="topup").order_by("id").values_list("from_status", "to_status")
    )
    assert moves == [("awaiting_payment", "confirming"), ("confirming", "completed")]


def test_credit_is_idempotent_when_called_again(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 50 * USDT)
    chain.mine(3)
    scanner.sync()
    deposit = Deposit.objects.get()
    topup_credit(deposit=deposit)
    topup_credit(deposit=deposit)
    assert balance_get(client=client).available == Decimal("50.00")
    assert fresh(topup).credited_amount == Decimal("50.00")


def test_underpayment_inside_window_credits_what_arrived_and_waits_for_the_rest(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 30 * USDT)
    chain.mine(3)
    scanner.sync()
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == (
        "awaiting_payment",
        "underpaid",
        Decimal("30"),
    )
    chain.pay(topup.address.address, 20 * USDT)
    chain.mine(3)
    scanner.sync()
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == ("completed", "none", Decimal("50"))
    assert balance_get(client=client).available == Decimal("50.00")


def test_underpaid_top_up_completes_underpaid_when_the_window_closes(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 10 * USDT)
    chain.mine(3)
    scanner.sync()
    assert topups_expire_due(now=topup.expires_at + timedelta(seconds=1)) == 1
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == ("completed", "underpaid", Decimal("10"))


def test_tolerance_counts_a_small_shortfall_as_paid(make_network, make_client):
    network = make_network("usdt-erc20", confirmations=1, underpay_tolerance="0.01")
    client = make_client()
    chain, topup = memory_chain(network), create(client, "100.00")
    chain.pay(topup.address.address, 99_500_000)
    chain.mine()
    MemoryScanner(network, chain).sync()
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == ("completed", "none", Decimal("99.50"))


def test_overpayment_is_credited_in_full_and_flagged(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 75 * USDT)
    chain.mine(3)
    scanner.sync()
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == (
        "completed",
        "overpaid",
        Decimal("75.00"),
    )


def test_expired_without_payment_then_paid_late_at_the_current_rate(setup, settings):
    from payments.services.quotes import rate_service

    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client, network="usdt-erc20")
    assert topups_expire_due(now=topup.expires_at + timedelta(seconds=1)) == 1
    assert fresh(topup).status == "expired"
    TopUp.objects.filter(pk=topup.pk).update(expires_at=timezone.now() - timedelta(minutes=5))
    settings.NEXORA_STATIC_RATES = {**settings.NEXORA_STATIC_RATES, "USDT/USD": "0.98"}
    rate_service.cache_clear()
    chain.pay(topup.address.address, 50 * USDT)
    chain.mine(3)
    scanner.sync()
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == (
        "completed",
        "paid_late",
        Decimal("49.00"),
    )
    deposit = Deposit.objects.get()
    assert (deposit.late, deposit.rate) == (True, Decimal("0.98"))


def test_payment_after_monitoring_is_recorded_for_staff_not_credited(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    past = timezone.now() - timedelta(minutes=1)
    TopUp.objects.filter(pk=topup.pk).update(expires_at=past - timedelta(days=7), monitor_until=past)
    chain.pay(topup.address.address, 50 * USDT)
    chain.mine(3)
    scanner.sync()
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.unapplied_reason, deposit.client_id) == (
        "unapplied",
        "after_monitoring",
        client.pk,
    )
    assert balance_get(client=client).available == Decimal("0")
    assert fresh(topup).status == "expired"


def test_below_minimum_is_recorded_not_credited(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 500_000)  # 0.5 USDT < 1 USDT minimum
    chain.mine(3)
    scanner.sync()
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.unapplied_reason) == ("unapplied", "below_minimum")
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == ("awaiting_payment", "below_minimum", 0)
    assert balance_get(client=client).available == Decimal("0")


def test_reorg_before_confirmation_drops_the_payment_and_the_remined_one_is_credited_once(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    tx = chain.pay(topup.address.address, 50 * USDT)
    chain.mine(2)
    scanner.sync()
    assert fresh(topup).status == "confirming"
    chain.reorg(2)  # the block with the payment is gone, the payment with it
    scanner.sync()
    assert Deposit.objects.get().status == "reorged"
    assert fresh(topup).status == "awaiting_payment"
    chain.mempool.append(tx)  # re-broadcast, mined again in a new block
    chain.mine(3)
    scanner.sync()
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.block_height) == ("credited", 3)
    assert fresh(topup).status == "completed"
    assert balance_get(client=client).available == Decimal("50.00")


def test_failed_transaction_moves_nothing(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 50 * USDT, success=False)
    chain.mine(3)
    scanner.sync()
    assert Deposit.objects.get().status == "failed"
    assert fresh(topup).status == "awaiting_payment"
    assert balance_get(client=client).available == Decimal("0")


def test_look_alike_token_is_never_credited(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 50 * USDT, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
    chain.mine(3)
    scanner.sync()
    assert not Deposit.objects.exists()
    assert balance_get(client=client).available == Decimal("0")


def test_several_payments_are_summed(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client, "30.00")
    for part in (10, 10, 10):
        chain.pay(topup.address.address, part * USDT)
    chain.mine(3)
    scanner.sync()
    topup = fresh(topup)
    assert (topup.status, topup.exception, topup.credited_amount) == ("completed", "none", Decimal("30.00"))
    assert Deposit.objects.filter(status="credited").count() == 3


def test_rounded_up_quote_paid_exactly_credits_exactly_the_amount(make_network, make_client, settings):
    from payments.services.quotes import rate_service

    settings.NEXORA_STATIC_RATES = {"ETH/USD": "3001.17"}
    rate_service.cache_clear()
    network = make_network("eth", confirmations=1)
    client = make_client()
    topup = create(client, "50.00", network="eth")
    assert topup.crypto_amount == 1_666_017 * 10**10  # 50 / 3001.17 = 0.016660169..., rounded UP at 8 places
    chain = memory_chain(network)
    chain.pay(topup.address.address, topup.crypto_amount, contract="")
    chain.mine()
    MemoryScanner(network, chain).sync()
    assert fresh(topup).credited_amount == Decimal("50.00")


def test_review_verdict_credits_held_and_flags_the_top_up(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)

    def review(fact):
        return Verdict.REVIEW

    screener_register("deposit_confirmed", review)
    try:
        chain.pay(topup.address.address, 50 * USDT)
        chain.mine(3)
        scanner.sync()
    finally:
        screener_unregister("deposit_confirmed", review)
    topup = fresh(topup)
    assert (topup.status, topup.review) == ("completed", "on_hold")
    balance = balance_get(client=client)
    assert (balance.available, balance.held) == (Decimal("0"), Decimal("50.00"))
    assert Hold.objects.get().remaining == Decimal("50.00")
    assert Deposit.objects.get().hold_id is not None


def test_payment_on_another_network_to_the_same_address_goes_to_staff(make_network, make_client):
    erc20 = make_network("usdt-erc20", confirmations=1)
    bep20 = make_network("usdt-bep20", confirmations=1)
    client = make_client()
    topup = create(client, network="usdt-erc20")
    chain = memory_chain(bep20)
    chain.pay(topup.address.address, 50 * 10**18)
    chain.mine()
    MemoryScanner(bep20, chain).sync()
    deposit = Deposit.objects.get()
    assert (deposit.network_id, deposit.status, deposit.unapplied_reason, deposit.topup_id) == (
        bep20.pk, "unapplied", "other_network", None)  # fmt: skip
    assert fresh(topup).status == "awaiting_payment" and erc20.pk == topup.network_id
    assert balance_get(client=client).available == Decimal("0")


def test_deposit_rows_are_unique_per_transfer(setup):
    client, chain, scanner = setup.client, setup.chain, setup.scanner
    topup = create(client)
    chain.pay(topup.address.address, 50 * USDT)
    chain.mine(3)
    for _ in range(3):
        scanner.sync()
    assert Deposit.objects.count() == 1
    assert Deposit.objects.get().status == DepositStatus.CREDITED


def test_first_sighting_and_credit_are_announced_once(setup, django_capture_on_commit_callbacks):
    from payments.hooks import listener_register, listener_unregister

    heard: list = []
    listeners = {event: heard.append for event in ("deposit_seen", "deposit_credited")}
    for event, fn in listeners.items():
        listener_register(event, fn)
    try:
        topup = create(setup.client)
        setup.chain.pay(topup.address.address, 50 * USDT)
        with django_capture_on_commit_callbacks(execute=True):
            setup.chain.mine()
            setup.scanner.sync()
            setup.chain.mine(2)
            setup.scanner.sync()
            setup.scanner.sync()
    finally:
        for event, fn in listeners.items():
            listener_unregister(event, fn)
    deposit = Deposit.objects.get()
    assert [type(f).__name__ for f in heard] == ["DepositSeen", "DepositCredited"]
    seen, credited = heard
    assert (seen.deposit_id, seen.client_id, seen.units) == (deposit.pk, setup.client.pk, 50 * USDT)
    assert (credited.amount, credited.currency, credited.held) == (Decimal("50.00"), "USD", False)
