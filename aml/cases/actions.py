"""Staff actions on a case, and the four-eyes approvals some of them need (contract: coord/interface.md).

Every action takes keyword-only ``case``, ``actor`` and (except ``case_assign``) a mandatory
``comment``, and returns ``ActionResult(case, approval, pending)``. The order inside each is the
same, so a refusal always writes nothing:

1. the actor's permission (``cases.work_case``; ``cases.decide_case`` for unfreeze and terminate),
   then the input (comment, amount, ...): ``PermissionDenied`` / ``ValidationFailed``;
2. one transaction with a row lock on the case (``select_for_update``): two officers acting on the
   same case at once are serialised, and the second one sees what the first one did;
3. state checks: a closed case refuses (``case_closed``); a case with a pending approval refuses
   everything but a note or an assignment (``approval_pending``);
4. a ``CaseEvent`` naming the action, its actor, comment, before/after and amount, plus the moves
   (ledger transfers through ``payments.services.holds``, status changes through ``case_transition``).

Money. A release takes the case's active holds oldest first, each for what is left of it that no
refund request has reserved, and records every hold's share in the event. Each transfer's
idempotency key names the case, the event or approval that ordered it, and the hold
(``case:<case>:release:e<event>:<hold>`` / ``...:a<approval>:<hold>``): a retried approval can
never move money twice, and the case lock makes a double-submitted release find nothing left.

Four-eyes. A release of more than ``NEXORA_FOUR_EYES_RELEASE_ABOVE``, any release (or false
positive closure that releases or unfreezes) of a sanctions or freeze case, and every unfreeze
create an ``Approval`` (pending; the case goes ``pending_approval``) and move nothing. Only
``approval_decide`` by a holder of ``cases.decide_case`` other than the requester executes it, in
the same transaction as the decision; a rejection puts the case back in its previous status. A
decided approval cannot be decided again (``approval_decided``); the database repeats the rules
(CHECK ``approval_four_eyes``, one pending approval per case, a trigger against any other change).

Closure. When nothing is held any more and the account is not frozen, the case closes
(``released``); terminate and false positive close with their own resolution. The client is told
neutrally through ``aml.notifications`` (``released``, ``documents_requested``,
``account_unfrozen``, ``account_terminated``); deliveries leave after commit, a rolled-back
decision tells nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from aml.cases.approval_models import Approval, ApprovalStatus
from aml.cases.documents import document_request_create
from aml.cases.models import Case, CaseEvent, CaseResolution, CaseStatus
from aml.cases.money import case_deposits, case_holds
from aml.cases.services import case_event_add, case_transition
from aml.models import Decision
from aml.notifications.services import notification_send
from aml.snooze import rule_snooze, rule_snooze_validate
from nexora.accounts.models import AccountStatus, ClientProfile
from nexora.accounts.services import account_terminate, account_unfreeze
from nexora.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from nexora.common.money import money_parse
from nexora.common.transitions import TransitionTable, transition_apply
from payments.models import Hold, HoldStatus, Network, ReviewFlag
from payments.selectors.payouts import hold_reserved, payout_source, refund_address_confirmed
from payments.services.holds import hold_release
from payments.services.payouts import payout_request
from payments.services.topups import topup_review_transition

MAX_COMMENT = 2000
WORK, DECIDE = "cases.work_case", "cases.decide_case"
C, A = CaseStatus, ApprovalStatus
APPROVAL_TRANSITIONS: TransitionTable = {
    A.PENDING: frozenset({A.APPROVED, A.REJECTED, A.CANCELLED}),
    A.APPROVED: frozenset(),
    A.REJECTED: frozenset(),
    A.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class ActionResult:
    case: Case
    approval: Approval | None = None
    pending: bool = False


def approval_transition(approval: Approval, *, to: str, actor: Any = None, reason: str = "",
                        **fields: Any) -> Approval:  # fmt: skip
    return transition_apply(approval, table=APPROVAL_TRANSITIONS, to=to, entity="approval", actor=actor,
                            reason=reason, extra_fields=fields)  # fmt: skip


# --- checks ------------------------------------------------------------------------------------


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [{"code": code, "message": message}]})


def _comment(text: object) -> str:
    value = text.strip() if isinstance(text, str) else ""
    if not value:
        raise _invalid("comment", "comment_required", "Say why, for the audit trail.")
    if len(value) > MAX_COMMENT:
        raise _invalid("comment", "comment_required", f"The comment has at most {MAX_COMMENT} characters.")
    return value


def _allowed(actor: Any, perm: str) -> bool:
    return bool(getattr(actor, "is_authenticated", False) and actor.is_staff and actor.has_perm(perm))


def _require(actor: Any, perm: str) -> None:
    if not _allowed(actor, perm):
        raise PermissionDenied("Your role does not allow this action.", code="permission_denied")


def _locked(case: Case, *, closed_ok: bool = False, pending_ok: bool = False) -> Case:
    """The case under a row lock, after the state checks every action shares."""
    locked = Case.objects.select_for_update(of=("self",)).select_related("client").get(pk=case.pk)
    if locked.status == C.CLOSED and not closed_ok:
        raise Conflict("The case is closed.", code="case_closed")
    if not pending_ok and Approval.objects.filter(case=locked, status=A.PENDING).exists():
        raise Conflict("A decision on this case awaits a second approval.", code="approval_pending")
    return locked


def _account(case: Case) -> ClientProfile:
    return ClientProfile.objects.get(pk=case.client_id)


def _event(case: Case, action: str, actor: Any, comment: str, **data: Any) -> Any:
    return case_event_add(case=case, action=action, actor=actor, comment=comment, **data)


def _notify(case: Case, event: str, key: str, **params: Any) -> None:
    client = ClientProfile.objects.select_related("user").get(pk=case.client_id)
    notification_send(client=client, event=event, params=params or None, dedupe_key=f"case:{case.pk}:{key}")


# --- money -------------------------------------------------------------------------------------


def _releasable(case: Case) -> list[tuple[Hold, Decimal]]:
    """The case's active holds, oldest first, with what no refund request has reserved of each."""
    rows = [(h, h.remaining - hold_reserved(h)) for h in case_holds(case) if h.status == HoldStatus.ACTIVE]
    return [(hold, free) for hold, free in rows if free > 0]


def _held(case: Case) -> Decimal:
    return sum((h.remaining for h in case_holds(case) if h.status == HoldStatus.ACTIVE), Decimal(0))


def _amount(case: Case, amount: object) -> Decimal | None:
    return None if amount is None else money_parse(amount, currency=case.client.currency)


def _plan(case: Case, amount: Decimal | None) -> list[tuple[Hold, Decimal]]:
    """Which holds give how much for a release of ``amount`` (None: everything), oldest first."""
    free = _releasable(case)
    total = sum((f for _, f in free), Decimal(0))
    if total <= 0:
        raise Conflict("Nothing is held on this case that could be released.", code="nothing_held")
    if amount is not None and amount > total:
        raise Conflict(f"Only {total} {case.client.currency} can be released.", code="hold_exceeded")
    left, plan = (total if amount is None else amount), []
    for hold, available in free:
        take = min(available, left)
        if take > 0:
            plan.append((hold, take))
            left -= take
    return plan


def _released_directly(case: Case) -> Decimal:
    """What this case already released without a second approval (``ref`` empty: no approval)."""
    rows = CaseEvent.objects.filter(case=case, action="released", after__ref="").values_list(
        "amount", flat=True
    )
    return sum((a for a in rows if a is not None), Decimal(0))


def _four_eyes(case: Case, amount: Decimal) -> bool:
    """Four-eyes for this release? Counted with the case's earlier direct releases, so splitting a
    large release into small ones does not dodge the threshold."""
    over = _released_directly(case) + amount > Decimal(settings.NEXORA_FOUR_EYES_RELEASE_ABOVE)
    return over or case.sanctions or case.band == Decision.FREEZE


def _topups_released(case: Case, hold_ids: set[int], actor: Any) -> None:
    """The review flag of a top-up whose held deposit is now fully released."""
    for deposit in case_deposits(case):
        hold = deposit.hold
        if hold is None or hold.pk not in hold_ids or deposit.topup_id is None:
            continue
        topup = deposit.topup
        hold.refresh_from_db()
        if topup is not None and hold.status == HoldStatus.CLOSED and topup.review == ReviewFlag.ON_HOLD:
            topup_review_transition(topup, to=ReviewFlag.RELEASED, actor=actor, reason=f"case #{case.pk}")


def _release_run(case: Case, *, actor: Any, comment: str, amount: Decimal | None, ref: str = "") -> Decimal:
    """Move the plan's money held -> available; one event with each hold's share. Returns the total."""
    plan = _plan(case, amount)
    total = sum((take for _, take in plan), Decimal(0))
    shares = [{"hold": hold.pk, "amount": str(take)} for hold, take in plan]
    event = _event(case, "released", actor, comment, amount=total, currency=case.client.currency,
                   before={"held": str(_held(case))}, after={"holds": shares, "ref": ref})  # fmt: skip
    ref = ref or f"e{event.pk}"
    for hold, take in plan:
        hold_release(hold=hold, amount=take, actor=actor, reason=f"case #{case.pk}: {comment}"[:300],
                     idempotency_key=f"case:{case.pk}:release:{ref}:{hold.pk}")  # fmt: skip
    _topups_released(case, {hold.pk for hold, _ in plan}, actor)
    _notify(case, "released", f"release:{ref}", amount=total, currency=case.client.currency)
    return total


def _settle(case: Case, *, actor: Any, reason: str, back_to: str = "") -> Case:
    """Close the case when nothing is held and the account is free; else leave (or put back) its status."""
    if _held(case) == 0 and _account(case).status == AccountStatus.ACTIVE:
        return case_transition(
            case, to=C.CLOSED, actor=actor, reason=reason, resolution=CaseResolution.RELEASED
        )
    if back_to and case.status != back_to:
        case_transition(case, to=back_to, actor=actor, reason=reason)
    return case


# --- approvals ---------------------------------------------------------------------------------


def _approval_request(
    case: Case, *, action: str, actor: Any, comment: str, params: dict[str, Any]
) -> ActionResult:
    approval = Approval.objects.create(case=case, action=action, params=params, previous_status=case.status,
                                       requested_by=actor, requested_comment=comment)  # fmt: skip
    _event(case, "approval_requested", actor, comment, amount=_param_amount(params),
           currency=case.client.currency if "amount" in params else "",
           after={"approval": str(approval.public_id), "action": action, **params})  # fmt: skip
    case_transition(case, to=C.PENDING_APPROVAL, actor=actor, reason=f"{action} awaits a second approval")
    return ActionResult(case=case, approval=approval, pending=True)


def _param_amount(params: dict[str, Any]) -> Decimal | None:
    return Decimal(params["amount"]) if params.get("amount") else None


def _run_release(case: Case, approval: Approval, actor: Any, comment: str) -> Case:
    _release_run(
        case, actor=actor, comment=comment, amount=_param_amount(approval.params), ref=f"a{approval.pk}"
    )
    return _settle(case, actor=actor, reason="released after approval", back_to=approval.previous_status)


def _run_unfreeze(case: Case, approval: Approval, actor: Any, comment: str) -> Case:
    _unfreeze_run(case, actor=actor, comment=comment, ref=f"a{approval.pk}")
    return _settle(case, actor=actor, reason="unfrozen after approval", back_to=approval.previous_status)


def _run_false_positive(case: Case, approval: Approval, actor: Any, comment: str) -> Case:
    return _false_positive_run(
        case, actor=actor, comment=comment, params=approval.params, ref=f"a{approval.pk}"
    )


_EXECUTORS: dict[str, Callable[[Case, Approval, Any, str], Case]] = {
    "release": _run_release,
    "unfreeze": _run_unfreeze,
    "close_false_positive": _run_false_positive,
}


def _decider_check(approval: Approval, actor: Any) -> None:
    if not _allowed(actor, DECIDE):
        raise PermissionDenied("Only a compliance lead can decide this.", code="four_eyes_lead_required")
    if actor.pk == approval.requested_by_id:
        raise PermissionDenied("The requester cannot decide their own request.", code="four_eyes_same_person")


def approval_decide(*, approval: Approval, actor: Any, approve: bool, comment: str) -> ActionResult:
    """The second pair of eyes: approve (execute the pending action) or reject (case back as it was)."""
    _decider_check(approval, actor)
    note = _comment(comment)
    with transaction.atomic():
        case = _locked(approval.case, pending_ok=True)
        locked = Approval.objects.select_for_update().get(pk=approval.pk)
        if locked.status != A.PENDING:
            raise Conflict("This approval was already decided.", code="approval_decided")
        to = A.APPROVED if approve else A.REJECTED
        approval_transition(locked, to=to, actor=actor, reason=note, decided_by=actor, decided_comment=note,
                            decided_at=timezone.now())  # fmt: skip
        after = {"approval": str(locked.public_id), "action": locked.action, **locked.params}
        _event(
            case, f"approval_{to}", actor, note, before={"requested_by": locked.requested_by_id}, after=after
        )
        if approve:
            case = _EXECUTORS[locked.action](case, locked, actor, note)
        else:
            case_transition(case, to=locked.previous_status, actor=actor, reason=f"{locked.action} rejected")
    return ActionResult(case=case, approval=locked, pending=False)


# --- actions -----------------------------------------------------------------------------------


def _assignee(actor: Any, assignee: Any) -> Any:
    person = actor if assignee is None else assignee
    if not _allowed(person, WORK):
        raise _invalid("assignee", "invalid_assignee", "Cases can only be assigned to staff who work them.")
    return person


@transaction.atomic
def case_assign(*, case: Case, actor: Any, assignee: Any = None, comment: str = "") -> ActionResult:
    _require(actor, WORK)
    person = _assignee(actor, assignee)
    case = _locked(case, pending_ok=True)
    before = case.assignee_id
    Case.objects.filter(pk=case.pk).update(assignee=person, updated_at=timezone.now())
    case.assignee = person
    note = comment.strip()[:MAX_COMMENT] if isinstance(comment, str) else ""
    _event(case, "assigned", actor, note, before={"assignee": before}, after={"assignee": person.pk})
    return ActionResult(case=case)


@transaction.atomic
def case_next(*, actor: Any) -> Case | None:
    """The oldest open case nobody else has, assigned to ``actor`` (``None`` when the queue is empty).

    ``SKIP LOCKED``: two officers asking at once get two different cases."""
    _require(actor, WORK)
    statuses = [C.OPEN, C.ESCALATED] if _allowed(actor, DECIDE) else [C.OPEN]
    rows = Case.objects.select_for_update(skip_locked=True, of=("self",)).filter(status__in=statuses)
    case = rows.filter(Q(assignee__isnull=True) | Q(assignee=actor)).order_by("opened_at", "id").first()
    if case is None:
        return None
    if case.assignee_id != actor.pk:
        Case.objects.filter(pk=case.pk).update(assignee=actor, updated_at=timezone.now())
        _event(case, "assigned", actor, "next case", before={"assignee": None}, after={"assignee": actor.pk})
        case.assignee = actor
    return case


@transaction.atomic
def case_note_add(*, case: Case, actor: Any, comment: str) -> ActionResult:
    _require(actor, WORK)
    note = _comment(comment)
    case = _locked(case, pending_ok=True)
    _event(case, "note", actor, note)
    return ActionResult(case=case)


@transaction.atomic
def case_release(*, case: Case, actor: Any, comment: str, amount: Decimal | None = None) -> ActionResult:
    """All (``amount=None``) or part of the case's held money back to available, oldest hold first."""
    _require(actor, WORK)
    note = _comment(comment)
    case = _locked(case)
    value = _amount(case, amount)
    total = sum((take for _, take in _plan(case, value)), Decimal(0))
    if _four_eyes(case, total):
        return _approval_request(
            case, action="release", actor=actor, comment=note, params={"amount": str(total)}
        )
    _release_run(case, actor=actor, comment=note, amount=total)
    return ActionResult(case=_settle(case, actor=actor, reason="released"))


@transaction.atomic
def case_documents_request(*, case: Case, actor: Any, comment: str, items: list[str], due_on: date,
                           network: Network | None = None) -> ActionResult:  # fmt: skip
    """Ask the client for documents (the account stays as it is: frozen stays frozen)."""
    _require(actor, WORK)
    note = _comment(comment)
    case = _locked(case)
    request = document_request_create(case=case, actor=actor, items=items, due_on=due_on, comment=note,
                                      refund_network=network)  # fmt: skip
    link = reverse("review:page")
    _notify(case, "documents_requested", f"documents:{request.pk}", due_date=request.due_on, link=link)
    case.refresh_from_db()
    return ActionResult(case=case)


def _refund_hold(case: Case, hold: Hold | None) -> Hold:
    free = _releasable(case)
    if hold is None:
        if not free:
            raise Conflict("Nothing is held on this case that could be refunded.", code="nothing_held")
        return free[0][0]
    found = next((h for h, _ in free if h.pk == hold.pk), None)
    if found is None:
        raise NotFound("No such hold on this case.")
    return found


def _refund_target(
    case: Case, hold: Hold, destination: object, network: Network | None
) -> tuple[object, Network]:
    """Default destination: the payment's source, or the address the client confirmed for its network."""
    source = payout_source(hold)
    network = network or source.network
    if network is None:
        raise _invalid("network", "refund_network_required", "Say which network the refund uses.")
    if destination is None:
        confirmed = refund_address_confirmed(case.client, network)
        destination = confirmed.address if confirmed is not None else source.address
    return destination, network


@transaction.atomic
def case_refund(*, case: Case, actor: Any, comment: str, hold: Hold | None = None, amount: object = None,
                destination: object = None, network: Network | None = None) -> ActionResult:  # fmt: skip
    """Reject and refund to source: a payout request (its own four-eyes approval follows)."""
    _require(actor, WORK)
    note = _comment(comment)
    case = _locked(case, closed_ok=True)
    if case.status == C.CLOSED and case.resolution != CaseResolution.TERMINATED:
        raise Conflict("The case is closed.", code="case_closed")
    if case.sanctions:
        raise Conflict("Money of a sanctions case is never refunded.", code="refund_forbidden_sanctions")
    target = _refund_hold(case, hold)
    value = _amount(case, amount) or target.remaining - hold_reserved(target)
    address, net = _refund_target(case, target, destination, network)
    payout = payout_request(client=case.client, hold=target, amount=value, destination=address, network=net,
                            reason=note, actor=actor, reference=f"case:{case.pk}")  # fmt: skip
    _event(case, "refund_requested", actor, note, amount=payout.amount, currency=payout.currency,
           after={"payout": str(payout.public_id), "hold": target.pk, "destination": payout.destination,
                  "network": net.code})  # fmt: skip
    return ActionResult(case=case)


@transaction.atomic
def case_escalate(*, case: Case, actor: Any, comment: str) -> ActionResult:
    _require(actor, WORK)
    note = _comment(comment)
    case = _locked(case)
    if case.status == C.ESCALATED:
        raise Conflict("The case is already escalated.", code="already_escalated")
    _event(case, "escalated", actor, note, before={"status": case.status}, after={"status": C.ESCALATED})
    return ActionResult(case=case_transition(case, to=C.ESCALATED, actor=actor, reason=note))


def _unfreeze_run(case: Case, *, actor: Any, comment: str, ref: str) -> None:
    profile = _account(case)
    if profile.status != AccountStatus.FROZEN:
        raise Conflict("The account is not frozen.", code="account_not_frozen")
    account_unfreeze(profile=profile, actor=actor, reason=f"case #{case.pk}: {comment}")
    _event(case, "unfrozen", actor, comment, before={"account": AccountStatus.FROZEN},
           after={"account": AccountStatus.ACTIVE, "ref": ref})  # fmt: skip
    _notify(case, "account_unfrozen", f"unfreeze:{ref}")


@transaction.atomic
def case_unfreeze(*, case: Case, actor: Any, comment: str) -> ActionResult:
    """Lift the account's freeze: always four-eyes (a second, different lead executes it)."""
    _require(actor, DECIDE)
    note = _comment(comment)
    case = _locked(case)
    if _account(case).status != AccountStatus.FROZEN:
        raise Conflict("The account is not frozen.", code="account_not_frozen")
    return _approval_request(case, action="unfreeze", actor=actor, comment=note, params={})


@transaction.atomic
def case_terminate(*, case: Case, actor: Any, comment: str) -> ActionResult:
    """End the client's account. Held money stays held (a refund is still possible, unless sanctions)."""
    _require(actor, DECIDE)
    note = _comment(comment)
    case = _locked(case)
    profile = _account(case)
    before = profile.status
    account_terminate(profile=profile, actor=actor, reason=f"case #{case.pk}: {note}")
    after = {"account": AccountStatus.TERMINATED}
    _event(case, "terminated", actor, note, before={"account": before}, after=after, amount=_held(case),
           currency=case.client.currency)  # fmt: skip
    _notify(case, "account_terminated", "terminate")
    case = case_transition(case, to=C.CLOSED, actor=actor, reason=note, resolution=CaseResolution.TERMINATED)
    return ActionResult(case=case)


def _false_positive_run(case: Case, *, actor: Any, comment: str, params: dict[str, Any], ref: str) -> Case:
    """Release (what was approved, or everything), unfreeze, snooze, close; refused if money stays held."""
    approved = _param_amount(params)
    if approved is not None or (not ref and _releasable(case)):
        _release_run(case, actor=actor, comment=comment, amount=approved, ref=ref)
    if _held(case) > 0:
        raise Conflict("Money of this case is still held (more arrived, or a refund is pending).",
                       code="still_held")  # fmt: skip
    if _account(case).status == AccountStatus.FROZEN:
        _unfreeze_run(case, actor=actor, comment=comment, ref=ref or "fp")
    if params.get("snooze_rule"):
        until = date.fromisoformat(params["snooze_until"])
        rule_snooze(case=case, rule=params["snooze_rule"], until=until, actor=actor, reason=comment)
    _event(case, "closed_false_positive", actor, comment, after={"ref": ref, **params})
    return case_transition(
        case, to=C.CLOSED, actor=actor, reason=comment, resolution=CaseResolution.FALSE_POSITIVE
    )


def _snooze_params(rule: str, until: date | None, reason: str) -> dict[str, Any]:
    if not rule:
        return {}
    if until is None:
        raise _invalid("snooze_until", "snooze_out_of_range", "Snooze until a date in the next 180 days.")
    rule_snooze_validate(rule=rule, until=until, reason=reason)
    return {"snooze_rule": rule, "snooze_until": until.isoformat()}


@transaction.atomic
def case_close_false_positive(*, case: Case, actor: Any, comment: str, snooze_rule: str = "",
                              snooze_until: date | None = None) -> ActionResult:  # fmt: skip
    """Release everything held (four-eyes as for a release), optionally snooze a rule, close."""
    _require(actor, WORK)
    note = _comment(comment)
    params = _snooze_params(snooze_rule, snooze_until, note)
    if params and not _allowed(actor, "aml.snooze_rule"):
        raise PermissionDenied("Your role does not allow snoozing rules.", code="permission_denied")
    case = _locked(case)
    total = sum((free for _, free in _releasable(case)), Decimal(0))
    frozen = _account(case).status == AccountStatus.FROZEN
    if (total > 0 and _four_eyes(case, total)) or frozen or case.sanctions:
        params = {"amount": str(total) if total else "", **params}
        return _approval_request(
            case, action="close_false_positive", actor=actor, comment=note, params=params
        )
    return ActionResult(case=_false_positive_run(case, actor=actor, comment=note, params=params, ref=""))


CASE_ACTIONS: dict[str, Callable[..., Any]] = {
    "assign": case_assign,
    "note": case_note_add,
    "release": case_release,
    "request_documents": case_documents_request,
    "refund": case_refund,
    "escalate": case_escalate,
    "unfreeze": case_unfreeze,
    "terminate": case_terminate,
    "close_false_positive": case_close_false_positive,
}

__all__ = [
    "APPROVAL_TRANSITIONS",
    "CASE_ACTIONS",
    "ActionResult",
    "approval_decide",
    "approval_transition",
    "case_assign",
    "case_close_false_positive",
    "case_documents_request",
    "case_escalate",
    "case_next",
    "case_note_add",
    "case_refund",
    "case_release",
    "case_terminate",
    "case_unfreeze",
]
