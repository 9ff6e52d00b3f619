"""Posting to the ledger: the only code that writes ledger entries.

``ledger_post`` is the primitive every money movement goes through:

1. It checks the lines balance per currency before touching the database.
2. It claims the idempotency key by inserting the ``LedgerTransaction`` row first, inside a
   savepoint. A second caller with the same key blocks on the unique index until the first
   commits, then gets an ``IntegrityError``, rolls back its savepoint and returns the first
   result: the same key never posts twice, also under concurrency.
3. It locks the affected client accounts (``SELECT ... FOR UPDATE``, in primary-key order so two
   postings can never deadlock on each other), refuses to take one below zero
   (``insufficient_funds``), inserts the entries and moves the running balances.

System accounts (deposits clearing, revenue, ...) take part in every posting of their currency.
Keeping a running balance on them would make one row that every worker must lock: all postings
would queue behind each other. They never need a balance check (they may go negative), so they
carry no running balance; their balance is the sum of their entries (``system_balance``).
``system_account`` remembers each one per process (after the transaction that found it committed),
which saves a query on every posting.

Everything happens in one database transaction; a failure leaves nothing behind. The named services
(``ledger_credit``, ``ledger_reverse``) and those in ``holds.py`` and ``charges.py`` build lines
and call ``ledger_post``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction

from nexora.accounts.models import ClientProfile
from nexora.common.errors import Conflict, InsufficientFunds, ValidationFailed
from payments.models import (
    AccountKind,
    Hold,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SystemAccount,
    TransactionKind,
)


@dataclass(frozen=True)
class Line:
    account: LedgerAccount
    amount: Decimal


@dataclass(frozen=True)
class Posting:
    """The result of ``ledger_post``: the transaction, and whether this call created it."""

    transaction: LedgerTransaction
    created: bool


# System accounts are created once and never deleted: each process remembers them. An account is
# remembered only once the transaction that read or created it committed, so a rolled-back creation
# never leaves a row id behind that does not exist.
_system_accounts: dict[tuple[str, str, str], LedgerAccount] = {}


def system_account(code: str, currency: str) -> LedgerAccount:
    key = (str(connection.settings_dict.get("NAME")), code, currency)
    cached = _system_accounts.get(key)
    if cached is not None:
        return cached
    account, _ = LedgerAccount.objects.get_or_create(
        kind=AccountKind.SYSTEM,
        system_code=code,
        currency=currency,
        defaults={"allow_negative": True},
    )
    transaction.on_commit(lambda: _system_accounts.setdefault(key, account))
    return account


def system_accounts_forget() -> None:
    """Forget the remembered system accounts (tests and benchmarks that recreate the database)."""
    _system_accounts.clear()


def client_accounts(client: ClientProfile, currency: str) -> tuple[LedgerAccount, LedgerAccount]:
    """The client's (available, held) accounts in ``currency``, created on first use."""
    found = {
        a.kind: a
        for a in LedgerAccount.objects.filter(
            client=client, currency=currency, kind__in=[AccountKind.AVAILABLE, AccountKind.HELD]
        )
    }
    for kind in (AccountKind.AVAILABLE, AccountKind.HELD):
        if kind not in found:
            found[kind] = _client_account_create(client, kind, currency)
    return found[AccountKind.AVAILABLE], found[AccountKind.HELD]


def _client_account_create(client: ClientProfile, kind: str, currency: str) -> LedgerAccount:
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(client=client, kind=kind, currency=currency)
    except IntegrityError:  # created concurrently
        return LedgerAccount.objects.get(client=client, kind=kind, currency=currency)


def _check_lines(lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise ValidationFailed("A ledger transaction needs at least two entries.", code="unbalanced")
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.amount == 0:
            raise ValidationFailed("A ledger entry cannot be zero.", code="zero_entry")
        sums[line.account.currency] += line.amount
    if any(total != 0 for total in sums.values()):
        raise ValidationFailed("Ledger entries must sum to zero per currency.", code="unbalanced")


def _apply_lines(lines: Sequence[Line], txn: LedgerTransaction) -> None:
    deltas: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines:
        if line.account.kind != AccountKind.SYSTEM:
            deltas[line.account.pk] += line.amount
    locked = LedgerAccount.objects.select_for_update().filter(pk__in=deltas).order_by("pk")
    for account in locked:
        new_balance = account.balance + deltas[account.pk]
        if new_balance < 0 and not account.allow_negative:
            raise InsufficientFunds(
                f"The {account.kind} balance is {account.balance} {account.currency}; "
                f"this needs {-deltas[account.pk]}."
            )
        account.balance = new_balance
        account.save(update_fields=["balance"])
    LedgerEntry.objects.bulk_create(
        LedgerEntry(transaction=txn, account=line.account, amount=line.amount, currency=line.account.currency)
        for line in lines
    )


def ledger_post(
    *,
    kind: str,
    idempotency_key: str,
    lines: Sequence[Line],
    client: ClientProfile | None = None,
    reference: str = "",
    description: str = "",
    reverses: LedgerTransaction | None = None,
    hold: Hold | None = None,
    actor: Any = None,
) -> Posting:
    """Post a balanced transaction once per ``idempotency_key``; see the module docstring."""
    _check_lines(lines)
    with transaction.atomic():
        try:
            with transaction.atomic():
                txn = LedgerTransaction.objects.create(
                    kind=kind,
                    idempotency_key=idempotency_key,
                    client=client,
                    reference=reference,
                    description=description,
                    reverses=reverses,
                    hold=hold,
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError:
            # Only a taken key is a replay; any other unique violation (a second reversal of one
            # transaction) is the caller's to handle.
            existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:
                raise
            return Posting(existing, created=False)
        _apply_lines(lines, txn)
    return Posting(txn, created=True)


def ledger_credit(
    *,
    client: ClientProfile,
    amount: Decimal,
    idempotency_key: str,
    kind: str = TransactionKind.TOPUP,
    source: str = SystemAccount.DEPOSITS,
    reference: str = "",
    description: str = "",
    actor: Any = None,
) -> LedgerTransaction:
    """Credit ``amount`` to the client's available balance, funded by a system account."""
    available, _ = client_accounts(client, client.currency)
    lines = [Line(system_account(source, client.currency), -amount), Line(available, amount)]
    return ledger_post(
        kind=kind,
        idempotency_key=idempotency_key,
        lines=lines,
        client=client,
        reference=reference,
        description=description,
        actor=actor,
    ).transaction


def ledger_reverse(
    *, original: LedgerTransaction, idempotency_key: str, reason: str, actor: Any = None
) -> LedgerTransaction:
    """Post the mirror image of ``original``. A transaction can be reversed once (unique FK)."""
    if original.kind == TransactionKind.REVERSAL:
        raise Conflict("A reversal cannot itself be reversed; post a new transaction.", code="not_reversible")
    already = LedgerTransaction.objects.filter(reverses=original).first()
    if already is not None and already.idempotency_key != idempotency_key:
        raise Conflict(f"Transaction #{original.pk} was already reversed.", code="already_reversed")
    lines = [Line(e.account, -e.amount) for e in original.entries.select_related("account")]
    try:
        return ledger_post(
            kind=TransactionKind.REVERSAL,
            idempotency_key=idempotency_key,
            lines=lines,
            client=original.client,
            reference=original.reference,
            description=reason,
            reverses=original,
            actor=actor,
        ).transaction
    except IntegrityError:  # a concurrent reversal under another key won the unique ``reverses``
        raise Conflict(f"Transaction #{original.pk} was already reversed.", code="already_reversed") from None
