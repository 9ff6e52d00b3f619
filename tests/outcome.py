"""The exact end state of a top-up after a scenario: balances, the top-up, every deposit and the
number of credits in the ledger. Scenario tests (anvil, TronGrid, Esplora) compare whole
``Outcome`` values, so nothing credited twice and nothing lost can hide in an unasserted field."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from nexora.accounts.models import ClientProfile
from payments.models import Deposit, LedgerTransaction, TopUp
from payments.selectors.ledger import balance_get


@dataclass(frozen=True)
class Outcome:
    available: Decimal
    held: Decimal
    topup: tuple[str, str, Decimal]  # status, exception, credited amount
    deposits: tuple[str, ...]  # every deposit's status, oldest first
    credits: int  # ledger transactions keyed deposit:...


def outcome(client: ClientProfile, topup: TopUp) -> Outcome:
    balance = balance_get(client=client)
    fresh = TopUp.objects.get(pk=topup.pk)
    return Outcome(
        available=balance.available,
        held=balance.held,
        topup=(fresh.status, fresh.exception, fresh.credited_amount),
        deposits=tuple(Deposit.objects.order_by("pk").values_list("status", flat=True)),
        credits=LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count(),
    )


def expect(
    *,
    available: str = "0.00",
    status: str,
    exception: str = "none",
    credited: str = "0.00",
    deposits: tuple[str, ...] = (),
    credits: int = 0,
    held: str = "0.00",
) -> Outcome:
    return Outcome(
        available=Decimal(available),
        held=Decimal(held),
        topup=(status, exception, Decimal(credited)),
        deposits=deposits,
        credits=credits,
    )
