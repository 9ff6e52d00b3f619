"""Case services: open or join a client's case, record events, move the status.

``case_open_or_join`` is what the AML engine calls for every assessment that is not ``allow``: it
finds the client's one open case under a row lock (or creates it; a concurrent creator loses on
the partial unique index and joins the winner's case), ties the assessment to it, makes the case's
band, sanctions flag and score at least as strict as the assessment, and records each step as a
``CaseEvent`` in the same transaction. Every event by a staff member is also a ``staff_action``
entry of the security log (``nexora.accounts.security``: who, IP, user agent), in the same
transaction as the event. Staff actions (release, request documents, refund, ...)
are built on ``case_transition`` and ``case_event_add``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from aml.cases.models import Case, CaseEvent, CaseItem, CaseStatus
from aml.models import DECISION_ORDER, Assessment, Decision
from nexora.accounts.models import ClientProfile
from nexora.accounts.security import SecurityKind, security_event_log
from nexora.common.errors import ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply

C = CaseStatus
_WORKING = frozenset({C.OPEN, C.AWAITING_CLIENT, C.ESCALATED, C.PENDING_APPROVAL, C.CLOSED})
CASE_TRANSITIONS: TransitionTable = {
    C.OPEN: _WORKING - {C.OPEN},
    C.AWAITING_CLIENT: _WORKING - {C.AWAITING_CLIENT},
    C.ESCALATED: _WORKING - {C.ESCALATED},
    C.PENDING_APPROVAL: _WORKING - {C.PENDING_APPROVAL},
    C.CLOSED: frozenset(),  # new held money after closure opens a new case
}


def case_event_add(
    *,
    case: Case,
    action: str,
    actor: Any = None,
    comment: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    amount: Decimal | None = None,
    currency: str = "",
) -> CaseEvent:
    if getattr(actor, "is_staff", False):  # staff actions reach the security log too, with IP and agent
        security_event_log(user=actor, kind=SecurityKind.STAFF_ACTION, detail=f"case #{case.pk}: {action}")
    return CaseEvent.objects.create(
        case=case,
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        comment=comment,
        before=before or {},
        after=after or {},
        amount=amount,
        currency=currency,
    )


def case_transition(case: Case, *, to: str, actor: Any = None, reason: str = "", **fields: Any) -> Case:
    """Move the case's status (table above), audited twice: a StatusChange and a CaseEvent."""
    before = case.status
    if to == C.CLOSED:
        fields.setdefault("closed_at", timezone.now())
    transition_apply(case, table=CASE_TRANSITIONS, to=to, entity="case", actor=actor, reason=reason,
                     extra_fields=fields)  # fmt: skip
    after = {"status": to, **{k: str(v) for k, v in fields.items() if k != "closed_at"}}
    case_event_add(
        case=case, action="status", actor=actor, comment=reason, before={"status": before}, after=after
    )
    return case


def _strictness(case: Case) -> dict[str, Any]:
    return {"band": case.band, "sanctions": case.sanctions, "score": case.score}


def _case_locked_or_create(client: ClientProfile, assessment: Assessment) -> tuple[Case, bool]:
    found = Case.objects.select_for_update().filter(client=client).exclude(status=C.CLOSED).first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            case = Case.objects.create(
                client=client, band=assessment.decision, sanctions=assessment.sanctions_hit,
                score=assessment.score, summary=assessment.summary[:300],
            )  # fmt: skip
    except IntegrityError:  # another worker opened it first: join theirs
        return Case.objects.select_for_update().filter(client=client).exclude(status=C.CLOSED).get(), False
    return case, True


def _escalate(case: Case, assessment: Assessment) -> None:
    before = _strictness(case)
    if DECISION_ORDER[Decision(assessment.decision)] > DECISION_ORDER[Decision(case.band)]:
        case.band = assessment.decision
    case.sanctions = case.sanctions or assessment.sanctions_hit
    case.score = max(case.score, assessment.score)
    after = _strictness(case)
    if after != before:
        Case.objects.filter(pk=case.pk).update(**after, updated_at=timezone.now())
        case_event_add(case=case, action="escalated_by_assessment", before=before, after=after)


@transaction.atomic
def case_open_or_join(*, client: ClientProfile, assessment: Assessment) -> Case:
    """The client's open case with ``assessment`` in it (opened now if there was none)."""
    if assessment.decision == Decision.ALLOW:
        raise ValidationFailed("An allowed assessment opens no case.", code="nothing_to_review")
    case, opened = _case_locked_or_create(client, assessment)
    if opened:
        case_event_add(case=case, action="opened", after=_strictness(case), comment=assessment.summary,
                       amount=assessment.amount, currency=assessment.currency)  # fmt: skip
    else:
        _escalate(case, assessment)
    CaseItem.objects.create(case=case, assessment=assessment)
    after = {"assessment": assessment.pk, "subject": assessment.subject_ref, "decision": assessment.decision,
             "score": assessment.score}  # fmt: skip
    case_event_add(case=case, action="assessment_added", comment=assessment.summary, after=after,
                   amount=assessment.amount, currency=assessment.currency)  # fmt: skip
    return case
