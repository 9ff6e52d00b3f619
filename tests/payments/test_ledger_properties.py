"""Property-based ledger test: any sequence of credits, charges, holds, releases, captures and
reversals keeps balances equal to the sum of entries, never negative, and held money uncharged."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from nexora.accounts.services import client_create
from nexora.common.errors import Conflict, InsufficientFunds
from payments.models import LedgerEntry
from payments.selectors.ledger import balance_get, exact_sum
from payments.services.charges import charge_create
from payments.services.holds import hold_capture, hold_place, hold_release
from payments.services.ledger import ledger_credit, ledger_reverse

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2)
_ids = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.client = client_create(username=f"prop{next(_ids)}")
        self.available = Decimal("0.00")
        self.held = Decimal("0.00")
        self.holds: list = []
        self.reversible: list = []  # (transaction, effect on available)

    def key(self) -> str:
        return f"p{next(_ids)}"

    @rule(amount=amounts)
    def credit(self, amount: Decimal) -> None:
        txn = ledger_credit(client=self.client, amount=amount, idempotency_key=self.key())
        self.available += amount
        self.reversible.append((txn, amount))

    @rule(amount=amounts)
    def charge(self, amount: Decimal) -> None:
        try:
            result = charge_create(
                client_id=self.client.pk,
                amount=amount,
                currency="USD",
                description="svc",
                idempotency_key=self.key(),
            )
        except InsufficientFunds:
            assert amount > self.available  # refused only when available (not held) is too low
            return
        assert amount <= self.available
        self.available -= amount
        assert result.charge.ledger_transaction is not None
        self.reversible.append((result.charge.ledger_transaction, -amount))

    @rule(amount=amounts)
    def hold(self, amount: Decimal) -> None:
        try:
            hold = hold_place(client=self.client, amount=amount, idempotency_key=self.key(), reason="p")
        except InsufficientFunds:
            assert amount > self.available
            return
        self.available -= amount
        self.held += amount
        self.holds.append(hold)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), capture=st.booleans())
    def settle(self, data: st.DataObject, capture: bool) -> None:
        hold = data.draw(st.sampled_from(self.holds))
        hold.refresh_from_db()
        part = data.draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("600.00"), places=2))
        try:
            if capture:
                hold_capture(hold=hold, amount=part, idempotency_key=self.key(), reason="p")
            else:
                hold_release(hold=hold, amount=part, idempotency_key=self.key(), reason="p")
        except Conflict:
            assert part > hold.remaining or hold.remaining == 0
            return
        self.held -= part
        if not capture:
            self.available += part

    @precondition(lambda self: self.reversible)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        txn, effect = data.draw(st.sampled_from(self.reversible))
        try:
            ledger_reverse(original=txn, idempotency_key=self.key(), reason="p")
        except InsufficientFunds:
            assert self.available - effect < 0
            return
        self.available -= effect
        self.reversible.remove((txn, effect))

    @invariant()
    def balances_match_model_and_entries(self) -> None:
        balance = balance_get(client=self.client)
        assert (balance.available, balance.held) == (self.available, self.held)
        assert balance.available >= 0 and balance.held >= 0
        for kind, expected in (("available", self.available), ("held", self.held)):
            total = LedgerEntry.objects.filter(account__client=self.client, account__kind=kind).aggregate(
                s=Sum("amount")
            )["s"]
            assert exact_sum(total, currency="USD") == expected


@pytest.mark.django_db
def test_ledger_state_machine():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
