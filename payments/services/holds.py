"""Holds: money set aside in a client's ``held`` account pending a decision.

* ``hold_place`` moves money from ``available`` into ``held`` (source ``available``), or credits a
  deposit straight into ``held`` (source ``deposits``: risky money never touches ``available``),
  or takes back into ``held`` a refund that did not reach the chain (source ``refunds``).
* ``hold_release`` moves all or part of what remains back to ``available``.
* ``hold_capture`` moves all or part of what remains out to a system account (revenue for an
  approved charge, refunds clearing for a refund to source).

Each is one ledger transaction with an idempotency key, and each keeps ``Hold.remaining`` in step
under a row lock on the hold. A hold whose remaining amount reaches zero goes ``active → closed``
through ``hold_transition``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from nexora.accounts.models import ClientProfile
from nexora.common.errors import Conflict, ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply
from payments.models import Hold, HoldStatus, LedgerTransaction, SystemAccount, TransactionKind
from payments.services.ledger import Line, client_accounts, ledger_post, system_account

HOLD_TRANSITIONS: TransitionTable = {
    HoldStatus.ACTIVE: frozenset({HoldStatus.CLOSED}),
    HoldStatus.CLOSED: frozenset(),
}

SOURCE_AVAILABLE = "available"
SOURCE_DEPOSITS = "deposits"
SOURCE_REFUNDS = "refunds"  # a refund that did not leave: back from refunds clearing, held again
_SYSTEM_SOURCES = {SOURCE_DEPOSITS: SystemAccount.DEPOSITS, SOURCE_REFUNDS: SystemAccount.REFUNDS}


def hold_transition(hold: Hold, *, to: str, actor: Any = None, reason: str = "", **fields: Any) -> Hold:
    return transition_apply(
        hold, table=HOLD_TRANSITIONS, to=to, entity="hold", actor=actor, reason=reason, extra_fields=fields
    )


class _AlreadyPosted(Exception):
    def __init__(self, txn: LedgerTransaction) -> None:
        self.txn = txn


def hold_place(
    *,
    client: ClientProfile,
    amount: Decimal,
    idempotency_key: str,
    reason: str,
    reference: str = "",
    source: str = SOURCE_AVAILABLE,
    actor: Any = None,
) -> Hold:
    """Hold ``amount``; returns the hold (the first one, when the key was used before)."""
    existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        assert existing.hold is not None
        return existing.hold
    available, held = client_accounts(client, client.currency)
    if source == SOURCE_AVAILABLE:
        debit = available
        kind = TransactionKind.HOLD
    elif source in _SYSTEM_SOURCES:
        debit = system_account(_SYSTEM_SOURCES[source], client.currency)
        kind = TransactionKind.TOPUP if source == SOURCE_DEPOSITS else TransactionKind.HOLD
    else:
        raise ValidationFailed(f"Unknown hold source {source!r}.", code="invalid_hold_source")
    try:
        with transaction.atomic():
            hold = Hold.objects.create(
                client=client,
                currency=client.currency,
                amount=amount,
                remaining=amount,
                reason=reason,
                reference=reference,
            )
            posting = ledger_post(
                kind=kind,
                idempotency_key=idempotency_key,
                lines=[Line(debit, -amount), Line(held, amount)],
                client=client,
                reference=reference,
                description=reason,
                hold=hold,
                actor=actor,
            )
            if not posting.created:  # lost a race for the key: undo our hold row
                raise _AlreadyPosted(posting.transaction)
    except _AlreadyPosted as dup:
        assert dup.txn.hold is not None
        return dup.txn.hold
    return hold


def _settle(
    *,
    hold: Hold,
    amount: Decimal | None,
    kind: str,
    credit_to: str | None,
    idempotency_key: str,
    reason: str,
    actor: Any,
) -> LedgerTransaction:
    """Move ``amount`` (default: all that remains) out of ``held``; shared by release and capture.

    The key is checked under the hold's row lock: a concurrent call with the same key waits for the
    first to commit, then finds its transaction and returns it without touching ``remaining``."""
    with transaction.atomic():
        locked = Hold.objects.select_for_update().get(pk=hold.pk)
        existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        amount = locked.remaining if amount is None else amount
        if locked.status != HoldStatus.ACTIVE or amount <= 0 or amount > locked.remaining:
            raise Conflict(
                f"Hold #{hold.pk} has {locked.remaining} {locked.currency} left.", code="hold_exceeded"
            )
        available, held = client_accounts(locked.client, locked.currency)
        target = available if credit_to is None else system_account(credit_to, locked.currency)
        posting = ledger_post(
            kind=kind,
            idempotency_key=idempotency_key,
            lines=[Line(held, -amount), Line(target, amount)],
            client=locked.client,
            reference=locked.reference,
            description=reason,
            hold=locked,
            actor=actor,
        )
        if not posting.created:  # the key was used by a posting that is not this hold's
            return posting.transaction
        txn = posting.transaction
        remaining = locked.remaining - amount
        if remaining == 0:  # status and remaining change together (CHECK hold_status_matches_remaining)
            hold_transition(locked, to=HoldStatus.CLOSED, actor=actor, reason=reason, remaining=remaining)
        else:
            locked.remaining = remaining
            locked.save(update_fields=["remaining", "updated_at"])
    hold.refresh_from_db()
    return txn


def hold_release(
    *, hold: Hold, idempotency_key: str, reason: str, amount: Decimal | None = None, actor: Any = None
) -> LedgerTransaction:
    return _settle(
        hold=hold,
        amount=amount,
        kind=TransactionKind.RELEASE,
        credit_to=None,
        idempotency_key=idempotency_key,
        reason=reason,
        actor=actor,
    )


def hold_capture(
    *,
    hold: Hold,
    idempotency_key: str,
    reason: str,
    to: str = SystemAccount.REVENUE,
    amount: Decimal | None = None,
    actor: Any = None,
) -> LedgerTransaction:
    return _settle(
        hold=hold,
        amount=amount,
        kind=TransactionKind.CAPTURE,
        credit_to=to,
        idempotency_key=idempotency_key,
        reason=reason,
        actor=actor,
    )
