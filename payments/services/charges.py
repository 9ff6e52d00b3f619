"""Charges from the operator's billing system.

``charge_create`` is idempotent on the billing system's key and safe under concurrency:

* it locks the client's profile row first, so a freeze and a charge cannot interleave and
  concurrent charges of one client queue up instead of racing (Saleor's rule: lock the thing
  whose invariant you check);
* a frozen or terminated account is refused (``account_frozen``); so is a currency that is not
  the account's;
* the screening hook decides: ``ALLOW`` debits ``available`` at once (``posted``); ``REVIEW``
  places a hold for the amount and leaves the charge ``pending_review`` until staff approve
  (``charge_approve``: capture to revenue) or reject (``charge_reject``: release);
* concurrent requests with one key queue on the profile lock; the second finds the first's row
  when it checks the key under the lock;
* the same key again returns the first charge and posts nothing; the same key with other
  parameters is a ``409 idempotency_key_reused``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from nexora.accounts.models import ApiKey, ClientProfile
from nexora.common.errors import (
    AccountFrozen,
    IdempotencyConflict,
    InvalidTransition,
    ValidationFailed,
)
from nexora.common.transitions import TransitionTable, transition_apply
from payments.hooks import ChargeRequested, Verdict, screen
from payments.models import Charge, ChargeStatus, Hold, LedgerTransaction, SystemAccount, TransactionKind
from payments.services.holds import hold_capture, hold_place, hold_release
from payments.services.ledger import Line, client_accounts, ledger_post, system_account

CHARGE_TRANSITIONS: TransitionTable = {
    ChargeStatus.PENDING_REVIEW: frozenset({ChargeStatus.POSTED, ChargeStatus.REJECTED}),
    ChargeStatus.POSTED: frozenset(),
    ChargeStatus.REJECTED: frozenset(),
}


def charge_transition(
    charge: Charge, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> Charge:
    return transition_apply(
        charge,
        table=CHARGE_TRANSITIONS,
        to=to,
        entity="charge",
        actor=actor,
        reason=reason,
        extra_fields=fields,
    )


@dataclass(frozen=True)
class ChargeResult:
    charge: Charge
    created: bool


def _same_request(charge: Charge, client_id: int, amount: Decimal, currency: str) -> bool:
    return (charge.client_id, charge.amount, charge.currency) == (client_id, amount, currency)


def _replay(idempotency_key: str, client_id: int, amount: Decimal, currency: str) -> ChargeResult | None:
    charge = Charge.objects.filter(idempotency_key=idempotency_key).first()
    if charge is None:
        return None
    if not _same_request(charge, client_id, amount, currency):
        raise IdempotencyConflict()
    return ChargeResult(charge, created=False)


def _lock_client(client_id: int) -> ClientProfile:
    profile = ClientProfile.objects.select_for_update().filter(pk=client_id).first()
    if profile is None:
        raise ValidationFailed(
            f"Client {client_id} does not exist.",
            code="unknown_client",
            fields={"client": [{"code": "unknown_client", "message": "No such client."}]},
        )
    return profile


def charge_create(
    *,
    client_id: int,
    amount: Decimal,
    currency: str,
    description: str,
    order_ref: str = "",
    idempotency_key: str,
    api_key: ApiKey | None = None,
) -> ChargeResult:
    with transaction.atomic():
        profile = _lock_client(client_id)
        replay = _replay(idempotency_key, client_id, amount, currency)  # checked under the lock
        if replay is not None:
            return replay
        _check_chargeable(profile, currency)
        fact = ChargeRequested(profile.pk, amount, currency, description, order_ref, idempotency_key)
        fields: dict[str, Any] = {
            "client": profile,
            "amount": amount,
            "currency": currency,
            "description": description,
            "order_ref": order_ref,
            "idempotency_key": idempotency_key,
            "api_key": api_key,
        }
        if screen("charge_requested", fact) == Verdict.ALLOW:
            reference = order_ref or f"charge:{idempotency_key}"
            txn = _debit(profile, amount, description, reference, idempotency_key)
            charge = Charge.objects.create(status=ChargeStatus.POSTED, ledger_transaction=txn, **fields)
        else:
            hold = hold_place(
                client=profile,
                amount=amount,
                idempotency_key=f"charge-hold:{idempotency_key}",
                reason="Charge pending review",
                reference=f"charge:{idempotency_key}",
            )
            charge = Charge.objects.create(status=ChargeStatus.PENDING_REVIEW, hold=hold, **fields)
    return ChargeResult(charge, created=True)


def _check_chargeable(profile: ClientProfile, currency: str) -> None:
    if not profile.can_be_charged:
        raise AccountFrozen()
    if currency != profile.currency:
        raise ValidationFailed(
            f"The account's currency is {profile.currency}.",
            code="currency_mismatch",
            fields={"currency": [{"code": "currency_mismatch", "message": f"Use {profile.currency}."}]},
        )


def _debit(
    client: ClientProfile, amount: Decimal, description: str, reference: str, idempotency_key: str
) -> LedgerTransaction:
    """Debit available → revenue. A charge allowed at once is born ``posted`` with this transaction."""
    available, _held = client_accounts(client, client.currency)
    revenue = system_account(SystemAccount.REVENUE, client.currency)
    return ledger_post(
        kind=TransactionKind.CHARGE,
        idempotency_key=f"charge:{idempotency_key}",
        lines=[Line(available, -amount), Line(revenue, amount)],
        client=client,
        reference=reference,
        description=description,
    ).transaction


def _charge_hold(charge: Charge) -> Hold:
    if charge.hold is None:
        raise InvalidTransition(f"Charge #{charge.pk} is not pending review.")
    return charge.hold


@transaction.atomic
def charge_approve(*, charge: Charge, actor: Any, reason: str) -> Charge:
    """A reviewer lets a held charge through: capture its hold into revenue."""
    txn = hold_capture(
        hold=_charge_hold(charge),
        idempotency_key=f"charge:{charge.idempotency_key}",
        reason=reason,
        actor=actor,
    )
    return charge_transition(
        charge, to=ChargeStatus.POSTED, actor=actor, reason=reason, ledger_transaction=txn
    )


@transaction.atomic
def charge_reject(*, charge: Charge, actor: Any, reason: str) -> Charge:
    """A reviewer refuses a held charge: its hold goes back to available."""
    hold_release(
        hold=_charge_hold(charge),
        idempotency_key=f"charge-release:{charge.idempotency_key}",
        reason=reason,
        actor=actor,
    )
    return charge_transition(charge, to=ChargeStatus.REJECTED, actor=actor, reason=reason)
