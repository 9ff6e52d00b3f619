"""Concurrent charges on PostgreSQL: row locks prevent overdrafts; idempotency holds under races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection

from nexora.common.errors import InsufficientFunds
from payments.models import Charge, LedgerTransaction
from payments.selectors.ledger import balance_get, ledger_sum_mismatches
from payments.services.charges import charge_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_threads(n: int, target: Callable[[int], object]) -> list[object]:
    results: list[object] = [None] * n
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_twenty_threads_charging_one_client_never_overdraw(make_client):
    client = make_client(balance="100.00")
    amounts = [Decimal("7.00") + Decimal(i % 4) for i in range(20)]  # 7..10, total 170 > 100

    def charge(i: int) -> object:
        return charge_create(
            client_id=client.pk,
            amount=amounts[i],
            currency="USD",
            description="vps",
            idempotency_key=f"conc-{i}",
        )

    results = run_threads(20, charge)
    successes = [r for r in results if not isinstance(r, Exception)]
    failures = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(f, InsufficientFunds) for f in failures), failures
    charged = sum((r.charge.amount for r in successes), Decimal("0"))  # type: ignore[attr-defined]
    balance = balance_get(client=client)
    assert charged <= Decimal("100.00")
    assert balance.available == Decimal("100.00") - charged
    assert balance.available < Decimal("7.00")  # nothing else fitted
    assert Charge.objects.filter(status="posted").count() == len(successes)
    assert len(failures) > 0
    assert ledger_sum_mismatches() == []


def test_same_charge_sent_concurrently_debits_once(make_client):
    client = make_client(balance="100.00")

    def charge(i: int) -> object:
        return charge_create(
            client_id=client.pk,
            amount=Decimal("25.00"),
            currency="USD",
            description="vps",
            idempotency_key="one-key",
        )

    results = run_threads(8, charge)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.charge.pk for r in results}) == 1  # type: ignore[attr-defined]
    assert sum(r.created for r in results) == 1  # type: ignore[attr-defined]
    assert LedgerTransaction.objects.filter(kind="charge").count() == 1
    assert balance_get(client=client).available == Decimal("75.00")


def test_same_release_sent_concurrently_moves_the_hold_once(make_client):
    from payments.models import Hold
    from payments.services.holds import hold_place, hold_release

    client = make_client(balance="100.00")
    hold = hold_place(client=client, amount=Decimal("60.00"), idempotency_key="h", reason="review")

    def release(i: int) -> object:
        return hold_release(
            hold=Hold.objects.get(pk=hold.pk), amount=Decimal("10.00"), idempotency_key="rel", reason="x"
        )

    results = run_threads(8, release)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.pk for r in results}) == 1  # type: ignore[attr-defined]
    hold.refresh_from_db()
    assert hold.remaining == Decimal("50.00")
    balance = balance_get(client=client)
    assert (balance.available, balance.held) == (Decimal("50.00"), Decimal("50.00"))
    assert ledger_sum_mismatches() == []


def test_concurrent_reversals_under_different_keys_reverse_once(make_client):
    from nexora.common.errors import Conflict
    from payments.services.ledger import ledger_credit, ledger_reverse

    client = make_client()
    credit = ledger_credit(client=client, amount=Decimal("30.00"), idempotency_key="c")

    def reverse(i: int) -> object:
        return ledger_reverse(original=credit, idempotency_key=f"rev-{i}", reason="reorg")

    results = run_threads(6, reverse)
    reversals = [r for r in results if not isinstance(r, Exception)]
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(reversals) == 1
    assert len(failures) == 5
    assert all(isinstance(f, Conflict) and f.code == "already_reversed" for f in failures), failures
    assert LedgerTransaction.objects.filter(reverses=credit).count() == 1
    assert balance_get(client=client).available == Decimal("0.00")
