"""Read-side of the ledger: balances and a client's entries. No writes here.

``balance_get`` reads the client's two account rows in one query, so ``available`` and ``held``
come from the same snapshot (both are moved in one transaction by ``ledger_post``).
``ledger_sum_mismatches`` recomputes every client balance from the entries; it must always be
empty. System accounts keep no running total (see ``services/ledger.py``): ``system_balance``
sums their entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum

from nexora.accounts.models import ClientProfile
from nexora.common.money import currency_quantum
from payments.models import AccountKind, LedgerAccount, LedgerEntry


@dataclass(frozen=True)
class Balance:
    currency: str
    available: Decimal
    held: Decimal
    account_status: str

    @property
    def total(self) -> Decimal:
        return self.available + self.held


def balance_get(*, client: ClientProfile, currency: str | None = None) -> Balance:
    currency = currency or client.currency
    rows = dict(
        LedgerAccount.objects.filter(
            client=client, currency=currency, kind__in=[AccountKind.AVAILABLE, AccountKind.HELD]
        ).values_list("kind", "balance")
    )
    zero = Decimal("0.00")
    return Balance(
        currency=currency,
        available=rows.get(AccountKind.AVAILABLE, zero),
        held=rows.get(AccountKind.HELD, zero),
        account_status=client.status,
    )


def client_entries(*, client: ClientProfile) -> QuerySet[LedgerEntry]:
    """The client's own entries (available and held accounts), newest first."""
    return (
        LedgerEntry.objects.filter(account__client=client)
        .select_related("transaction", "account")
        .order_by("-id")
    )


def exact_sum(total: Decimal | None, *, currency: str) -> Decimal:
    """A database SUM of amounts, exact. PostgreSQL sums NUMERIC exactly (this is a no-op there);
    SQLite (the demo database) sums DECIMAL columns as floats, and quantizing to the currency's
    quantum recovers the exact total of 2-decimal amounts well past any real balance (< 10^13)."""
    return (total or Decimal("0")).quantize(currency_quantum(currency))


def system_balance(*, code: str, currency: str) -> Decimal:
    """A system account's balance: the sum of its entries (system accounts keep no running total)."""
    total = LedgerEntry.objects.filter(
        account__kind=AccountKind.SYSTEM, account__system_code=code, currency=currency
    ).aggregate(total=Sum("amount"))["total"]
    return exact_sum(total, currency=currency)


def ledger_sum_mismatches() -> list[tuple[int, Decimal, Decimal]]:
    """Client accounts whose running balance differs from the sum of their entries."""
    sums = dict(
        LedgerEntry.objects.values("account").annotate(total=Sum("amount")).values_list("account", "total")
    )
    mismatches = []
    for acc in LedgerAccount.objects.exclude(kind=AccountKind.SYSTEM):
        total = exact_sum(sums.get(acc.pk), currency=acc.currency)
        if acc.balance != total:
            mismatches.append((acc.pk, acc.balance, total))
    return mismatches
