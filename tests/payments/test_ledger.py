"""Ledger services: balanced postings, idempotency, holds, reversals, non-negative balances."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nexora.common.errors import Conflict, InsufficientFunds, ValidationFailed
from nexora.common.models import AppendOnlyError, StatusChange
from payments.models import Hold, HoldStatus, LedgerEntry, LedgerTransaction, SystemAccount
from payments.selectors.ledger import balance_get, client_entries, ledger_sum_mismatches, system_balance
from payments.services.holds import SOURCE_DEPOSITS, hold_capture, hold_place, hold_release
from payments.services.ledger import (
    Line,
    client_accounts,
    ledger_credit,
    ledger_post,
    ledger_reverse,
    system_account,
)

D = Decimal
pytestmark = pytest.mark.django_db


def balances(client):
    b = balance_get(client=client)
    return (b.available, b.held)


def test_credit_posts_two_balanced_entries(make_client):
    client = make_client()
    txn = ledger_credit(client=client, amount=D("12.34"), idempotency_key="k1", reference="topup:1")
    amounts = sorted(e.amount for e in txn.entries.all())
    assert amounts == [D("-12.34"), D("12.34")]
    assert balances(client) == (D("12.34"), D("0.00"))
    assert system_balance(code=SystemAccount.DEPOSITS, currency="USD") == D("-12.34")
    assert ledger_sum_mismatches() == []


def test_same_idempotency_key_posts_once(make_client):
    client = make_client()
    first = ledger_credit(client=client, amount=D("5.00"), idempotency_key="same")
    second = ledger_credit(client=client, amount=D("5.00"), idempotency_key="same")
    assert first.pk == second.pk
    assert LedgerTransaction.objects.filter(idempotency_key="same").count() == 1
    assert LedgerEntry.objects.filter(transaction=first).count() == 2
    assert balances(client) == (D("5.00"), D("0.00"))


def test_unbalanced_or_degenerate_lines_are_refused_before_writing(make_client):
    client = make_client()
    available, held = client_accounts(client, "USD")
    for lines, code in [
        ([Line(available, D("1.00")), Line(held, D("-0.99"))], "unbalanced"),
        ([Line(available, D("1.00"))], "unbalanced"),
        ([Line(available, D("0")), Line(held, D("0"))], "zero_entry"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            ledger_post(kind="adjustment", idempotency_key=f"bad-{code}-{len(lines)}", lines=lines)
        assert err.value.code == code
    assert LedgerTransaction.objects.count() == 0


def test_overdraft_is_refused_and_writes_nothing(make_client):
    client = make_client(balance="10.00")
    available, _ = client_accounts(client, "USD")
    revenue = system_account(SystemAccount.REVENUE, "USD")
    before = LedgerTransaction.objects.count()
    with pytest.raises(InsufficientFunds):
        ledger_post(
            kind="charge",
            idempotency_key="over",
            lines=[Line(available, D("-10.01")), Line(revenue, D("10.01"))],
        )
    assert LedgerTransaction.objects.count() == before
    assert balances(client) == (D("10.00"), D("0.00"))


def test_hold_release_and_capture_move_between_accounts(make_client):
    client = make_client(balance="100.00")
    hold = hold_place(client=client, amount=D("60.00"), idempotency_key="h1", reason="review")
    assert balances(client) == (D("40.00"), D("60.00"))
    hold_release(hold=hold, amount=D("25.00"), idempotency_key="r1", reason="partial release")
    assert balances(client) == (D("65.00"), D("35.00"))
    assert hold.remaining == D("35.00") and hold.status == HoldStatus.ACTIVE
    hold_capture(hold=hold, idempotency_key="c1", reason="refund", to=SystemAccount.REFUNDS)
    assert balances(client) == (D("65.00"), D("0.00"))
    hold.refresh_from_db()
    assert (hold.remaining, hold.status) == (D("0.00"), HoldStatus.CLOSED)
    assert system_balance(code=SystemAccount.REFUNDS, currency="USD") == D("35.00")
    audit = StatusChange.objects.get(entity="hold", entity_id=str(hold.pk))
    assert (audit.from_status, audit.to_status) == ("active", "closed")
    assert ledger_sum_mismatches() == []


def test_hold_cannot_release_more_than_remains(make_client):
    client = make_client(balance="50.00")
    hold = hold_place(client=client, amount=D("20.00"), idempotency_key="h", reason="x")
    with pytest.raises(Conflict) as err:
        hold_release(hold=hold, amount=D("20.01"), idempotency_key="r", reason="too much")
    assert err.value.code == "hold_exceeded"
    hold_release(hold=hold, idempotency_key="r-all", reason="all")
    with pytest.raises(Conflict):
        hold_release(hold=hold, amount=D("0.01"), idempotency_key="r-again", reason="closed")
    assert balances(client) == (D("50.00"), D("0.00"))


def test_hold_needs_available_funds_but_deposit_goes_straight_to_held(make_client):
    client = make_client(balance="5.00")
    with pytest.raises(InsufficientFunds):
        hold_place(client=client, amount=D("5.01"), idempotency_key="h", reason="x")
    assert Hold.objects.count() == 0
    hold = hold_place(
        client=client,
        amount=D("700.00"),
        idempotency_key="dep",
        reason="risky deposit",
        source=SOURCE_DEPOSITS,
    )
    assert balances(client) == (D("5.00"), D("700.00"))
    again = hold_place(
        client=client, amount=D("700.00"), idempotency_key="dep", reason="retry", source=SOURCE_DEPOSITS
    )
    assert again.pk == hold.pk and Hold.objects.count() == 1


def test_reversal_mirrors_and_happens_once(make_client):
    client = make_client()
    credit = ledger_credit(client=client, amount=D("30.00"), idempotency_key="c")
    reversal = ledger_reverse(original=credit, idempotency_key="rev", reason="reorg")
    assert sorted(e.amount for e in reversal.entries.all()) == [D("-30.00"), D("30.00")]
    assert reversal.reverses_id == credit.pk
    assert balances(client) == (D("0.00"), D("0.00"))
    assert ledger_reverse(original=credit, idempotency_key="rev", reason="retry").pk == reversal.pk
    with pytest.raises(Conflict) as err:
        ledger_reverse(original=credit, idempotency_key="rev-2", reason="twice")
    assert err.value.code == "already_reversed"
    with pytest.raises(Conflict):
        ledger_reverse(original=reversal, idempotency_key="rev-rev", reason="no")


def test_reversal_of_spent_credit_is_refused(make_client):
    client = make_client()
    credit = ledger_credit(client=client, amount=D("30.00"), idempotency_key="c")
    hold_place(client=client, amount=D("20.00"), idempotency_key="h", reason="x")
    with pytest.raises(InsufficientFunds):
        ledger_reverse(original=credit, idempotency_key="rev", reason="reorg")
    assert balances(client) == (D("10.00"), D("20.00"))


def test_entries_are_append_only_in_the_model_layer(make_client):
    client = make_client(balance="1.00")
    entry = LedgerEntry.objects.first()
    assert entry is not None
    entry.amount = D("999.00")
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=D("2.00"))
    with pytest.raises(AppendOnlyError):
        LedgerTransaction.objects.all().delete()
    assert balances(client) == (D("1.00"), D("0.00"))


def test_client_entries_are_own_and_newest_first(make_client):
    alice, bob = make_client(balance="10.00"), make_client(balance="20.00")
    hold_place(client=alice, amount=D("4.00"), idempotency_key="h", reason="x")
    entries = list(client_entries(client=alice))
    assert [(e.transaction.kind, e.account.kind, e.amount) for e in entries] == [
        ("hold", "held", D("4.00")),
        ("hold", "available", D("-4.00")),
        ("topup", "available", D("10.00")),
    ]
    assert all(e.account.client_id == alice.pk for e in entries)
    assert bob.pk != alice.pk


def test_ledger_verify_command_reports_consistency(make_client):
    from io import StringIO

    from django.core.management import call_command

    make_client(balance="3.00")
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    assert "ledger consistent" in out.getvalue()
