"""Every (from, to) pair of every transition table: allowed moves succeed and are audited,
the rest fail with invalid_transition and change nothing."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from nexora.accounts.models import AccountStatus
from nexora.accounts.services import ACCOUNT_TRANSITIONS, account_transition
from nexora.common.errors import InvalidTransition, StaleState
from nexora.common.models import StatusChange
from payments.models import Charge, ChargeStatus, Hold, HoldStatus
from payments.services.charges import CHARGE_TRANSITIONS, charge_transition
from payments.services.holds import HOLD_TRANSITIONS, hold_transition

pytestmark = pytest.mark.django_db


def _pairs(table):
    states = list(table)
    return list(itertools.product(states, states))


def _check(obj, source, target, table, move, entity):
    audits = StatusChange.objects.filter(entity=entity).count()
    if target in table[source]:
        move(obj, to=target, reason="test")
        obj.refresh_from_db()
        assert obj.status == target
        last = StatusChange.objects.filter(entity=entity)[0]
        assert (last.from_status, last.to_status, last.entity_id) == (source, target, str(obj.pk))
    else:
        with pytest.raises(InvalidTransition):
            move(obj, to=target, reason="test")
        obj.refresh_from_db()
        assert obj.status == source
        assert StatusChange.objects.filter(entity=entity).count() == audits


@pytest.mark.parametrize(("source", "target"), _pairs(ACCOUNT_TRANSITIONS))
def test_account_transitions(make_client, source, target):
    profile = make_client()
    type(profile).objects.filter(pk=profile.pk).update(status=source)  # arrange the starting state
    profile.refresh_from_db()
    _check(profile, source, target, ACCOUNT_TRANSITIONS, account_transition, "account")


@pytest.mark.parametrize(("source", "target"), _pairs(CHARGE_TRANSITIONS))
def test_charge_transitions(make_client, source, target):
    from payments.services.ledger import ledger_credit

    profile = make_client()
    txn = ledger_credit(client=profile, amount=Decimal("1.00"), idempotency_key="t")
    charge = Charge.objects.create(
        client=profile,
        amount=Decimal("1.00"),
        currency="USD",
        description="x",
        idempotency_key="c",
        status=source,
        ledger_transaction=txn,
    )
    _check(charge, source, target, CHARGE_TRANSITIONS, charge_transition, "charge")


@pytest.mark.parametrize(("source", "target"), _pairs(HOLD_TRANSITIONS))
def test_hold_transitions(make_client, source, target):
    profile = make_client()
    remaining = Decimal("1.00") if source == HoldStatus.ACTIVE else Decimal("0")
    hold = Hold.objects.create(
        client=profile, currency="USD", amount=Decimal("1.00"), remaining=remaining, status=source, reason="x"
    )
    extra: dict[str, Any] = {"remaining": Decimal("0")} if target == HoldStatus.CLOSED else {}
    _check(hold, source, target, HOLD_TRANSITIONS, lambda o, **kw: hold_transition(o, **kw, **extra), "hold")


def test_stale_status_loses_compare_and_set(make_client):
    profile = make_client()
    stale = type(profile).objects.get(pk=profile.pk)
    account_transition(profile, to=AccountStatus.FROZEN, reason="first")
    with pytest.raises(StaleState):
        account_transition(stale, to=AccountStatus.TERMINATED, reason="based on an old read")
    profile.refresh_from_db()
    assert profile.status == AccountStatus.FROZEN
    assert list(ChargeStatus) and list(HoldStatus)
