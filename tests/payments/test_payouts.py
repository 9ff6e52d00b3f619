"""Refunds to source: request, four-eyes approval, the treasury's hash, verification, exact ledger.

Verification here runs against the in-memory chain (the ``ChainAdapter`` interface); the same flow
on a real node is in ``tests/chain/test_payouts_anvil.py``. Every refusal asserts its stable code
and that nothing was written (no payout, no ledger transaction, balances unchanged).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from nexora.common.errors import NexoraError
from nexora.common.models import StatusChange
from payments.hooks import Verdict, screener_register, screener_unregister
from payments.models import Hold, LedgerTransaction, PayoutRequest, RefundAddress
from payments.selectors.ledger import balance_get, ledger_sum_mismatches, system_balance
from payments.selectors.payouts import hold_reserved, payout_source
from payments.services.payouts import (
    payout_approve,
    payout_mark_sent,
    payout_reject,
    payout_request,
    payout_verify,
    refund_address_activate,
    refund_address_record,
)
from tests.review_helpers import OTHER, SENDER, held_deposit

pytestmark = pytest.mark.django_db
USDT = 10**6
TREASURY = "0x000000000000000000000000000000000000dEaD"
TX = "0x" + "ab" * 32


@pytest.fixture
def staff(make_staff):
    class Staff:
        officer = make_staff("compliance_officer")
        lead = make_staff("compliance_lead")
        lead2 = make_staff("compliance_lead")
        treasury = make_staff("treasury")
        support = make_staff("support")

    return Staff


@pytest.fixture
def held(make_network, make_client):
    network = make_network("usdt-erc20")
    client = make_client()
    deposit, chain = held_deposit(client, network)
    return client, network, deposit, chain


def balances(client):
    balance = balance_get(client=client)
    return (
        balance.available,
        balance.held,
        system_balance(code="refunds_clearing", currency="USD"),
        system_balance(code="payouts_settled", currency="USD"),
    )


def written():
    return PayoutRequest.objects.count(), LedgerTransaction.objects.count(), Hold.objects.count()


def refused(code, fn, **kwargs):
    before = written()
    with pytest.raises(NexoraError) as exc:
        fn(**kwargs)
    assert exc.value.code == code
    assert written() == before
    return exc.value


def request(held, staff, amount="50.00", destination=SENDER, **kwargs):
    client, network, deposit, _ = held
    return payout_request(
        client=client,
        hold=deposit.hold,
        amount=amount,
        destination=destination,
        network=network,
        reason="rejected: refund to source",
        actor=staff.officer,
        reference="case:1",
        **kwargs,
    )


def send_on_chain(chain, units, to=SENDER, blocks=3, success=True):
    transfer = chain.pay(to, units, sender=TREASURY, success=success)
    chain.mine(blocks)
    return transfer.tx_hash


def test_refund_to_source_end_to_end_with_exact_ledger_at_each_step(held, staff):
    client, _, deposit, chain = held
    assert balances(client) == (Decimal("0.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))

    payout = request(held, staff)
    assert (payout.status, payout.units, payout.amount) == ("requested", 50 * USDT, Decimal("50.00"))
    assert (payout.destination_kind, payout.source_address, payout.rate) == ("source", SENDER, Decimal("1"))
    assert balances(client) == (Decimal("0.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))
    assert hold_reserved(deposit.hold) == Decimal("50.00")

    payout = payout_approve(payout=payout, actor=staff.lead, comment="agreed")
    assert (payout.status, payout.approved_by, payout.decided_reason) == ("approved", staff.lead, "agreed")
    assert balances(client) == (Decimal("0.00"), Decimal("0.00"), Decimal("50.00"), Decimal("0.00"))
    capture = payout.capture_transaction
    assert capture is not None
    assert (capture.kind, capture.idempotency_key) == ("capture", f"payout:{payout.pk}:capture")
    assert Hold.objects.get(pk=deposit.hold_id).status == "closed"

    tx_hash = send_on_chain(chain, payout.units, blocks=1)
    payout = payout_mark_sent(
        payout=payout, actor=staff.treasury, tx_hash=tx_hash.upper().replace("0X", "0x")
    )
    assert (payout.status, payout.tx_hash, payout.sent_by) == ("sent", tx_hash, staff.treasury)

    payout = payout_verify(payout=payout, adapter=chain)  # 1 of 3 confirmations: still sent
    assert (payout.status, payout.confirmations, payout.verify_attempts) == ("sent", 1, 1)
    assert balances(client)[2:] == (Decimal("50.00"), Decimal("0.00"))

    chain.mine(2)
    payout = payout_verify(payout=payout, adapter=chain)
    assert (payout.status, payout.delivered_units, payout.confirmations) == ("confirmed", 50 * USDT, 3)
    assert balances(client) == (Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("50.00"))
    assert payout.settle_transaction is not None
    assert payout.settle_transaction.idempotency_key == f"payout:{payout.pk}:settle"
    assert payout_verify(payout=payout, adapter=chain).status == "confirmed"  # once
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="payout:").count() == 2
    moves = StatusChange.objects.filter(entity="payout", entity_id=str(payout.pk)).order_by("id")
    assert [(m.from_status, m.to_status, m.actor) for m in moves] == [
        ("requested", "approved", staff.lead),
        ("approved", "sent", staff.treasury),
        ("sent", "confirmed", None),
    ]
    assert ledger_sum_mismatches() == []


def test_partial_refund_keeps_the_rest_held(held, staff):
    client, _, deposit, _ = held
    payout = request(held, staff, amount="20.00")
    assert payout.units == 20 * USDT
    refused("hold_exceeded", request, held=held, staff=staff, amount="30.01")
    payout_approve(payout=payout, actor=staff.lead)
    assert balances(client) == (Decimal("0.00"), Decimal("30.00"), Decimal("20.00"), Decimal("0.00"))
    assert Hold.objects.get(pk=deposit.hold_id).remaining == Decimal("30.00")
    assert request(held, staff, amount="30.00").status == "requested"


def test_units_are_rounded_down_at_the_current_rate(held, staff, settings):
    from payments.services.quotes import rate_service

    settings.NEXORA_STATIC_RATES = {"USDT/USD": "1.0007"}
    rate_service.cache_clear()
    payout = request(held, staff, amount="10.00")
    assert payout.units == 9_993_004  # 10 / 1.0007 = 9.99300489..., DOWN at 6 places (never 9_993_005)
    assert payout.rate == Decimal("1.0007")


def test_four_eyes_requester_and_officers_cannot_approve(held, staff):
    client, _, deposit, _ = held
    own = payout_request(
        client=client,
        hold=deposit.hold,
        amount="10.00",
        destination=SENDER,
        network=held[1],
        reason="refund",
        actor=staff.lead,
    )
    before = balances(client)
    refused("four_eyes_same_person", payout_approve, payout=own, actor=staff.lead)
    refused("four_eyes_lead_required", payout_approve, payout=own, actor=staff.officer)
    refused("four_eyes_lead_required", payout_approve, payout=own, actor=staff.treasury)
    assert balances(client) == before and PayoutRequest.objects.get().status == "requested"
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses it too
        PayoutRequest.objects.filter(pk=own.pk).update(approved_by=staff.lead)
    assert payout_approve(payout=own, actor=staff.lead2).approved_by == staff.lead2


def test_roles_that_cannot_request_send_or_reject(held, staff):
    refused(
        "permission_denied",
        payout_request,
        client=held[0],
        hold=held[2].hold,
        amount="5.00",
        destination=SENDER,
        network=held[1],
        reason="x",
        actor=staff.support,
    )
    refused(
        "permission_denied",
        payout_request,
        client=held[0],
        hold=held[2].hold,
        amount="5.00",
        destination=SENDER,
        network=held[1],
        reason="x",
        actor=staff.treasury,
    )
    payout = request(held, staff, amount="5.00")
    refused("permission_denied", payout_reject, payout=payout, actor=staff.treasury, reason="no")
    payout_approve(payout=payout, actor=staff.lead)
    refused("permission_denied", payout_mark_sent, payout=payout, actor=staff.lead, tx_hash=TX)
    assert PayoutRequest.objects.get().status == "approved"


def test_reject_needs_a_reason_and_moves_no_money(held, staff):
    client = held[0]
    payout = request(held, staff)
    refused("comment_required", payout_reject, payout=payout, actor=staff.lead, reason="  ")
    payout = payout_reject(payout=payout, actor=staff.lead, reason="the client proved the source")
    assert (payout.status, payout.rejected_by) == ("rejected", staff.lead)
    assert balances(client) == (Decimal("0.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))
    assert hold_reserved(held[2].hold) == Decimal("0.00")
    refused("invalid_transition", payout_approve, payout=payout, actor=staff.lead2)


def test_destination_must_be_the_source_or_a_confirmed_client_address(held, staff, make_client):
    _, network, deposit, _ = held
    refused("destination_not_allowed", request, held=held, staff=staff, destination=OTHER)
    refused("invalid_address", request, held=held, staff=staff, destination="0x1234")
    refused("invalid_address", request, held=held, staff=staff, destination=SENDER.lower()[:-1] + "X")
    own = deposit.address.address
    refused("own_address", request, held=held, staff=staff, destination=own)
    refused("invalid_amount", request, held=held, staff=staff, amount=10.5)
    refused("too_many_decimals", request, held=held, staff=staff, amount="1.001")
    stranger = make_client()
    refused(
        "not_found",
        payout_request,
        client=stranger,
        hold=deposit.hold,
        amount="1.00",
        destination=SENDER,
        network=network,
        reason="x",
        actor=staff.officer,
    )
    assert request(held, staff, destination=SENDER.lower()).destination == SENDER  # canonical spelling


def test_exchange_source_needs_a_confirmed_client_address(held, staff, settings):
    client, network, deposit, _ = held
    settings.NEXORA_EXCHANGE_ADDRESSES = [f"evm:{SENDER.lower()}", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]
    assert payout_source(deposit.hold).why == "exchange_address"
    refused("refund_address_required", request, held=held, staff=staff)
    refused("refund_address_required", request, held=held, staff=staff, destination=OTHER)
    given = refund_address_record(client=client, network=network, address=OTHER.lower(), reference="case:1")
    refused(
        "refund_address_required", request, held=held, staff=staff, destination=OTHER
    )  # not confirmed yet
    refund_address_activate(refund_address=given, actor=client.user)
    payout = request(held, staff, destination=OTHER)
    assert (payout.destination, payout.destination_kind, payout.refund_address) == (
        OTHER,
        "client_address",
        given,
    )
    assert payout.source_address == SENDER


def test_exchange_list_file_and_a_source_that_paid_several_clients(
    held, staff, settings, tmp_path, make_client
):
    _, network, deposit, _ = held
    listing = tmp_path / "exchanges.txt"
    listing.write_text(f"# hot wallets\n{OTHER}  # not this one's sender\n", encoding="utf-8")
    settings.NEXORA_EXCHANGE_ADDRESSES_FILE = str(listing)
    assert payout_source(deposit.hold).why == ""
    listing.write_text(f"bitcoin:{SENDER}\n{SENDER}\n", encoding="utf-8")
    assert payout_source(deposit.hold).why == "exchange_address"
    settings.NEXORA_EXCHANGE_ADDRESSES_FILE = ""
    held_deposit(make_client(), network)  # the same wallet pays a second client
    assert payout_source(deposit.hold).why == "shared_source"
    refused("refund_address_required", request, held=held, staff=staff)


def test_idempotency_key_and_reservations(held, staff):
    first = request(held, staff, amount="30.00", idempotency_key="form:1")
    assert request(held, staff, amount="30.00", idempotency_key="form:1").pk == first.pk
    refused(
        "idempotency_key_reused", request, held=held, staff=staff, amount="31.00", idempotency_key="form:1"
    )
    refused("hold_exceeded", request, held=held, staff=staff, amount="20.01")
    assert hold_reserved(held[2].hold) == Decimal("30.00")


def test_screening_refuses_or_flags_before_anything_is_written(held, staff):
    seen = []

    def refuse(fact):
        seen.append(fact)
        return Verdict.REFUSE

    screener_register("payout_requested", refuse)
    try:
        refused("payout_refused", request, held=held, staff=staff)
    finally:
        screener_unregister("payout_requested", refuse)
    assert (seen[0].destination, seen[0].amount, seen[0].network) == (SENDER, Decimal("50.00"), "usdt-erc20")

    def review(fact):
        return Verdict.REVIEW

    screener_register("payout_requested", review)
    try:
        assert request(held, staff).screening == "review"
    finally:
        screener_unregister("payout_requested", review)


def test_mark_sent_validates_the_hash_and_refuses_reuse(held, staff):
    payout = request(held, staff, amount="25.00")
    refused("invalid_transition", payout_mark_sent, payout=payout, actor=staff.treasury, tx_hash=TX)
    payout_approve(payout=payout, actor=staff.lead)
    refused("invalid_tx_hash", payout_mark_sent, payout=payout, actor=staff.treasury, tx_hash="ab" * 32)
    sent = payout_mark_sent(payout=payout, actor=staff.treasury, tx_hash=TX)
    assert payout_mark_sent(payout=sent, actor=staff.treasury, tx_hash=TX).pk == sent.pk  # same form twice
    refused(
        "invalid_transition", payout_mark_sent, payout=sent, actor=staff.treasury, tx_hash="0x" + "cd" * 32
    )
    second = request(held, staff, amount="25.00")
    payout_approve(payout=second, actor=staff.lead)
    refused("tx_hash_taken", payout_mark_sent, payout=second, actor=staff.treasury, tx_hash=TX)


def approved_and_sent(held, staff, chain_units=None, **send):
    chain = held[3]
    payout = payout_approve(payout=request(held, staff), actor=staff.lead)
    tx_hash = send_on_chain(chain, payout.units if chain_units is None else chain_units, **send)
    return payout_mark_sent(payout=payout, actor=staff.treasury, tx_hash=tx_hash)


def test_underpaid_refund_settles_what_left_and_holds_the_rest_again(held, staff):
    client, _, _, chain = held
    payout = approved_and_sent(held, staff, chain_units=20 * USDT)
    payout = payout_verify(payout=payout, adapter=chain)
    assert (payout.status, payout.delivered_units) == ("failed", 20 * USDT)
    assert payout.failure_reason == f"the transaction paid {20 * USDT} of {50 * USDT} units"
    assert balances(client) == (Decimal("0.00"), Decimal("30.00"), Decimal("0.00"), Decimal("20.00"))
    returned = payout.return_hold
    assert returned is not None
    assert (returned.amount, returned.remaining, returned.status) == (
        Decimal("30.00"),
        Decimal("30.00"),
        "active",
    )
    assert payout_source(returned).address == SENDER  # the money still came from the client's wallet
    again = payout_request(
        client=client,
        hold=returned,
        amount="30.00",
        destination=SENDER,
        network=held[1],
        reason="second attempt",
        actor=staff.officer,
    )
    assert again.units == 30 * USDT
    assert ledger_sum_mismatches() == []


def test_reverted_refund_fails_and_returns_everything_to_held(held, staff):
    client, _, _, chain = held
    payout = payout_verify(payout=approved_and_sent(held, staff, success=False), adapter=chain)
    assert (payout.status, payout.delivered_units, payout.settle_transaction) == ("failed", 0, None)
    assert payout.failure_reason == "the transaction reverted"
    assert balances(client) == (Decimal("0.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))


def test_a_hash_never_seen_on_chain_fails_after_the_window(held, staff, settings):
    client, _, _, chain = held
    payout = approved_and_sent(held, staff)
    missing = PayoutRequest.objects.get(pk=payout.pk)
    PayoutRequest.objects.filter(pk=payout.pk).update(tx_hash="0x" + "ee" * 32)
    missing.refresh_from_db()
    assert payout_verify(payout=missing, adapter=chain).status == "sent"
    PayoutRequest.objects.filter(pk=payout.pk).update(sent_at=timezone.now() - timedelta(hours=73))
    missing.refresh_from_db()
    failed = payout_verify(payout=missing, adapter=chain)
    assert (failed.status, failed.verify_attempts) == ("failed", 2)
    assert failed.failure_reason == "the transaction is not on chain 72 h after it was recorded"
    assert balances(client) == (Decimal("0.00"), Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))


def test_refund_addresses_supersede_and_screening_can_refuse(held, staff):
    client, network, _, _ = held
    first = refund_address_record(client=client, network=network, address=OTHER)
    second = refund_address_record(client=client, network=network, address=SENDER)
    first.refresh_from_db()
    assert (first.status, second.status) == ("superseded", "submitted")
    with pytest.raises(NexoraError) as exc:
        refund_address_activate(refund_address=first)
    assert exc.value.code == "refund_address_superseded"
    refund_address_activate(refund_address=second)

    def refuse(fact):
        return Verdict.REFUSE if fact.field == "payout_address" else Verdict.ALLOW

    third = refund_address_record(client=client, network=network, address=OTHER)
    screener_register("account_changed", refuse)
    try:
        with pytest.raises(NexoraError) as exc:
            refund_address_activate(refund_address=third)
    finally:
        screener_unregister("account_changed", refuse)
    assert exc.value.code == "refund_address_refused"
    assert list(RefundAddress.objects.order_by("id").values_list("status", flat=True)) == [
        "superseded",
        "confirmed",
        "submitted",
    ]
    with pytest.raises(NexoraError) as exc:
        refund_address_record(client=client, network=network, address=held[2].address.address)
    assert exc.value.code == "own_address"
