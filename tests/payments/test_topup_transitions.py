"""Every (from, to) pair of every top-up-family transition table: allowed moves are applied and
audited, every other move is refused and writes nothing."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from nexora.common.errors import InvalidTransition
from nexora.common.models import StatusChange
from payments.models import (
    Deposit,
    DepositStatus,
    ReviewFlag,
    TopUp,
    TopUpException,
    TopUpStatus,
    TxLookup,
    TxLookupStatus,
)
from payments.services.deposits import DEPOSIT_TRANSITIONS, deposit_transition
from payments.services.lookups import TXLOOKUP_TRANSITIONS, txlookup_transition
from payments.services.topups import (
    EXCEPTION_TRANSITIONS,
    REVIEW_TRANSITIONS,
    TOPUP_TRANSITIONS,
    topup_create,
    topup_exception_transition,
    topup_review_transition,
    topup_transition,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def topup(make_network, make_client):
    make_network("usdt-trc20")
    return topup_create(client=make_client(), network_code="usdt-trc20", amount="10").topup


def _deposit(topup, status):
    return Deposit.objects.create(
        network=topup.network, tx_hash="ab" * 32, index=0, address=topup.address, client=topup.client,
        topup=topup, amount=10**7, seen_at=topup.created_at, status=status,
        credited_amount=0 if status == "credited" else None,
    )  # fmt: skip


def _topup_with(topup, field, value):
    TopUp.objects.filter(pk=topup.pk).update(**{field: value})
    return TopUp.objects.get(pk=topup.pk)


def _lookup(topup, status):
    return TxLookup.objects.create(topup=topup, tx_hash="cd" * 32, status=status)


FAMILIES: dict[str, tuple[Any, ...]] = {
    "topup": (TopUpStatus, TOPUP_TRANSITIONS, "status",
              lambda t, v: _topup_with(t, "status", v), topup_transition),
    "topup.exception": (TopUpException, EXCEPTION_TRANSITIONS, "exception",
                        lambda t, v: _topup_with(t, "exception", v), topup_exception_transition),
    "topup.review": (ReviewFlag, REVIEW_TRANSITIONS, "review",
                     lambda t, v: _topup_with(t, "review", v), topup_review_transition),
    "deposit": (DepositStatus, DEPOSIT_TRANSITIONS, "status", _deposit, deposit_transition),
    "txlookup": (TxLookupStatus, TXLOOKUP_TRANSITIONS, "status", _lookup, txlookup_transition),
}  # fmt: skip
# The database refuses a credited deposit without its amount (CHECK deposit_credited_has_amount).
EXTRA = {("deposit", "credited"): {"credited_amount": Decimal("10.00")}}
CASES = [
    (family, source, target)
    for family, (choices, _table, _field, _make, _move) in FAMILIES.items()
    for source, target in itertools.product(choices.values, repeat=2)
]


def test_every_table_names_only_known_states():
    for choices, table, *_ in FAMILIES.values():
        assert set(table) == set(choices.values)
        assert all(set(targets) <= set(choices.values) for targets in table.values())


@pytest.mark.parametrize(("family", "source", "target"), CASES)
def test_transition_pair(topup, family, source, target):
    _choices, table, field, make, move = FAMILIES[family]
    obj = make(topup, source)
    audits = StatusChange.objects.count()
    if target in table[source]:
        move(obj, to=target, **EXTRA.get((family, target), {}))
        assert getattr(type(obj).objects.get(pk=obj.pk), field) == target
        change = StatusChange.objects.latest("id")
        assert (change.entity, change.entity_id, change.from_status, change.to_status) == (
            family, str(obj.pk), source, target)  # fmt: skip
    else:
        with pytest.raises(InvalidTransition):
            move(obj, to=target)
        assert getattr(type(obj).objects.get(pk=obj.pk), field) == source
        assert StatusChange.objects.count() == audits
