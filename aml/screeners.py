"""The AML engine's answers to payments' screening hook (``payments.hooks``), registered at start-up.

Each screener turns a payments fact into a ``Subject``, has it assessed (``aml.engine``), and maps
the decision to the hook's verdict:

=================  =========  ==========================  =================================
subject            allow      review                      freeze
=================  =========  ==========================  =================================
deposit            ALLOW      REVIEW (credited to held)   REVIEW (held; account frozen)
charge / order     ALLOW      REVIEW (held back)          REVIEW (held back; account frozen)
payout / refund    ALLOW      REVIEW                      REFUSE (account frozen)
account change     ALLOW      REVIEW (goes through, case) REFUSE (change refused, frozen)
=================  =========  ==========================  =================================

``topup_requested`` is not an assessment: it checks the KYC limits and writes nothing (a refused
request must leave no trace but the error).

The engine runs in a savepoint of payments' transaction, so its failure cannot poison the money
movement. If the engine itself fails, a fallback assessment (one ``engine`` error, ``review``)
still opens the case; if even that fails, the exception reaches the hook, which holds (REVIEW).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from aml.engine import assessment_create, assessment_engine_failed
from aml.kyc import kyc_topup_check
from aml.models import Assessment, Decision
from aml.rules.base import ACCOUNT_CHANGE, CHARGE, DEPOSIT, PAYOUT, Subject
from payments import hooks
from payments.hooks import (
    AccountChanged,
    ChargeRequested,
    DepositConfirmed,
    PayoutRequested,
    TopUpRequested,
    Verdict,
)

logger = logging.getLogger(__name__)
_HOLD = {Decision.ALLOW: Verdict.ALLOW, Decision.REVIEW: Verdict.REVIEW, Decision.FREEZE: Verdict.REVIEW}
_REFUSE = {Decision.ALLOW: Verdict.ALLOW, Decision.REVIEW: Verdict.REVIEW, Decision.FREEZE: Verdict.REFUSE}


def _assess(subject: Subject, *, exclude_deposit: int | None = None) -> Assessment:
    try:
        return assessment_create(subject=subject, exclude_deposit=exclude_deposit)
    except Exception as exc:  # the engine failed: leave a reviewed record, not a silent hold
        logger.exception("AML engine failed on %s", subject.ref)
        return assessment_engine_failed(subject=subject, failure=exc)


def deposit_screener(fact: DepositConfirmed) -> Verdict:
    subject = Subject(
        type=DEPOSIT,
        ref=f"deposit:{fact.deposit_id}",
        client_id=fact.client_id,
        at=timezone.now(),
        currency=fact.currency,
        amount=fact.amount,
        network=fact.network,
        counterparty=fact.sender,
        units=fact.units,
        topup_id=fact.topup_id,
        deposit_id=fact.deposit_id,
        late=fact.late,
        detail=fact.tx_hash,
    )
    return _HOLD[Decision(_assess(subject, exclude_deposit=fact.deposit_id).decision)]


def charge_screener(fact: ChargeRequested) -> Verdict:
    subject = Subject(
        type=CHARGE,
        ref=f"charge:{fact.idempotency_key}",
        client_id=fact.client_id,
        at=timezone.now(),
        currency=fact.currency,
        amount=fact.amount,
        detail=f"{fact.description} {fact.order_ref}".strip()[:300],
    )
    return _HOLD[Decision(_assess(subject).decision)]


def payout_screener(fact: PayoutRequested) -> Verdict:
    subject = Subject(
        type=PAYOUT,
        ref=f"payout:{fact.client_id}:{fact.network}:{fact.destination}"[:240],
        client_id=fact.client_id,
        at=timezone.now(),
        currency=fact.currency,
        amount=fact.amount,
        network=fact.network,
        counterparty=fact.destination,
        detail=fact.reason[:300],
    )
    return _REFUSE[Decision(_assess(subject).decision)]


def account_change_screener(fact: AccountChanged) -> Verdict:
    subject = Subject(
        type=ACCOUNT_CHANGE,
        ref=f"account:{fact.client_id}:{fact.field}",
        client_id=fact.client_id,
        at=timezone.now(),
        currency="",
        field=fact.field,
        detail=fact.new_value[:300],
        counterparty=fact.new_value if fact.field == "payout_address" else "",
    )
    return _REFUSE[Decision(_assess(subject).decision)]


def topup_screener(fact: TopUpRequested) -> Verdict:
    check = kyc_topup_check(client_id=fact.client_id, amount=fact.amount, currency=fact.currency)
    return Verdict.ALLOW if check.allowed else Verdict.REFUSE


SCREENERS: dict[str, Any] = {
    "deposit_confirmed": deposit_screener,
    "charge_requested": charge_screener,
    "payout_requested": payout_screener,
    "account_changed": account_change_screener,
    "topup_requested": topup_screener,
}


def screeners_register() -> None:
    for event, fn in SCREENERS.items():
        hooks.screener_register(event, fn)


def screeners_unregister() -> None:
    for event, fn in SCREENERS.items():
        hooks.screener_unregister(event, fn)
