"""KYC levels: ``unverified`` (every client without a row), ``basic``, ``full``, and their limits.

The limits (per top-up and rolling 30 days, in the account currency) are part of the rule set
(``params["kyc"]``, see ``aml.params``): a change of limits is versioned, published with four eyes
and can be backtested. The level itself is a fact about the client, changed only by staff holding
``aml.change_kyc_level`` through ``kyc_level_set`` (a transition with a ``StatusChange`` audit row
naming who and why).

``kyc_topup_check`` answers the ``topup_requested`` hook: a top-up above the level's per-top-up
limit, or one that would take the client's credited top-ups of the last 30 days above the rolling
limit, is refused before anything is written (payments answers ``409 verification_required``).
Money that arrives anyway (an overpayment, an old address paid again) is held for review by rules
14 and 16.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from aml.engine import ruleset_in_force
from aml.history import kyc_snapshot
from aml.models import ClientVerification, KycLevel
from aml.params import KycLimits, ParsedParams
from nexora.accounts.models import ClientProfile
from nexora.common.errors import PermissionDenied, ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply

KYC_TRANSITIONS: TransitionTable = {level: frozenset(set(KycLevel) - {level}) for level in KycLevel}


def kyc_level_get(client_id: int) -> str:
    level = ClientVerification.objects.filter(client_id=client_id).values_list("level", flat=True).first()
    return level or KycLevel.UNVERIFIED


def kyc_limits(params: ParsedParams, level: str) -> KycLimits:
    return params.kyc.get(level) or params.kyc[KycLevel.UNVERIFIED]


def kyc_transition(
    verification: ClientVerification, *, to: str, actor: Any, reason: str
) -> ClientVerification:
    return transition_apply(
        verification, table=KYC_TRANSITIONS, to=to, entity="kyc", actor=actor, reason=reason, field="level"
    )


@transaction.atomic
def kyc_level_set(*, client: ClientProfile, level: str, actor: Any, reason: str) -> ClientVerification:
    """Staff set a client's verification level (after checking documents, or to withdraw it)."""
    if not (getattr(actor, "is_staff", False) and actor.has_perm("aml.change_kyc_level")):
        raise PermissionDenied("Your role does not allow changing a client's verification level.")
    if level not in KycLevel.values:
        raise ValidationFailed(
            "Unknown verification level.",
            code="invalid_kyc_level",
            fields={"level": [{"code": "invalid_kyc_level", "message": "Use unverified, basic or full."}]},
        )
    if not reason.strip():
        raise ValidationFailed(
            "Say why the level changes.",
            code="reason_required",
            fields={"reason": [{"code": "reason_required", "message": "A reason is required."}]},
        )
    verification, _ = ClientVerification.objects.select_for_update().get_or_create(client=client)
    if verification.level == level:
        return verification
    return kyc_transition(verification, to=level, actor=actor, reason=reason.strip())


@dataclass(frozen=True)
class KycCheck:
    allowed: bool
    level: str
    reason: str


def kyc_topup_check(*, client_id: int, amount: Decimal, currency: str) -> KycCheck:
    """May the client ask for a top-up of ``amount``? (One query; nothing is written.)"""
    snapshot = kyc_snapshot(client_id=client_id, currency=currency, as_of=timezone.now())
    limits = kyc_limits(ruleset_in_force(seen=snapshot.seen).params, snapshot.level)
    level, credited = snapshot.level, snapshot.credited_30d
    if limits.per_topup is not None and amount > limits.per_topup:
        return KycCheck(
            False, level, f"{amount} {currency} is above the {level} per-top-up limit {limits.per_topup}"
        )
    if limits.rolling_30d is not None and credited + amount > limits.rolling_30d:
        return KycCheck(False, level, f"{credited} + {amount} {currency} is above the {level} 30-day limit")
    return KycCheck(True, level, "within the limits")
