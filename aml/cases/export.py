"""The data of a case file: everything an investigator or a regulator's report needs, as plain JSON.

``case_file(case=...)`` gathers, read-only: the case; the client (account status, balances); every
assessment with each rule's outcome, points, reason and data; the deposits, holds, payouts (with
their status history) and refund addresses of the case's money; every ledger transaction that moved
it, entry by entry; the case's full event trail and its four-eyes approvals; the document requests,
the documents' metadata (name, type, size, SHA-256: never the file) and the client's statements.

The result goes through ``json.dumps`` as is: money (Decimal) and chain amounts (int base units,
which a JavaScript reader would round) are strings, times are ISO 8601 in UTC, people are their
usernames ("" for the system). Lists are in the order things happened. The staff dashboard renders
it as a JSON download and a printable page; this module only builds the data. The sections about
refunds and the client's side of the review come from ``aml.cases.export_review.review_sections``,
so another assembly of the case file can take them as one piece.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from aml.cases.approval_selectors import approvals_for_case
from aml.cases.export_review import iso, money_text, review_sections, username
from aml.cases.models import Approval, Case, CaseEvent
from aml.cases.money import case_deposits
from aml.models import Assessment, RuleOutcome
from payments.models import Deposit
from payments.selectors.ledger import balance_get

FORMAT = "nexora.case_file/1"


def _case(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "status": case.status,
        "resolution": case.resolution,
        "band": case.band,
        "sanctions": case.sanctions,
        "score": case.score,
        "summary": case.summary,
        "assignee": username(case.assignee),
        "opened_at": iso(case.opened_at),
        "closed_at": iso(case.closed_at),
    }


def _client(case: Case) -> dict[str, Any]:
    client = case.client
    balance = balance_get(client=client)
    return {
        "id": client.pk,
        "username": client.user.username,
        "email": client.user.email,
        "currency": client.currency,
        "language": client.language,
        "status": client.status,
        "created_at": iso(client.created_at),
        "balance": {"available": money_text(balance.available), "held": money_text(balance.held)},
    }


def _outcome(outcome: RuleOutcome) -> dict[str, Any]:
    return {
        "rule": outcome.rule,
        "outcome": outcome.outcome,
        "points": outcome.points,
        "snoozed": outcome.snoozed,
        "reason": outcome.reason,
        "data": outcome.data,
    }


def _assessment(assessment: Assessment) -> dict[str, Any]:
    return {
        "id": assessment.pk,
        "subject_type": assessment.subject_type,
        "subject_ref": assessment.subject_ref,
        "ruleset_version": assessment.ruleset.version,
        "trigger": assessment.trigger,
        "amount": money_text(assessment.amount),
        "currency": assessment.currency,
        "score": assessment.score,
        "decision": assessment.decision,
        "sanctions_hit": assessment.sanctions_hit,
        "summary": assessment.summary,
        "created_at": iso(assessment.created_at),
        "outcomes": [_outcome(o) for o in assessment.outcomes.all()],
    }


def _assessments(case: Case) -> list[dict[str, Any]]:
    rows = (
        Assessment.objects.filter(case_item__case=case)
        .select_related("ruleset")
        .prefetch_related(Prefetch("outcomes", queryset=RuleOutcome.objects.order_by("position", "id")))
        .order_by("created_at", "id")
    )
    return [_assessment(a) for a in rows]


def _deposit(deposit: Deposit) -> dict[str, Any]:
    return {
        "id": deposit.pk,
        "network": deposit.network.code,
        "asset": deposit.network.asset,
        "tx_hash": deposit.tx_hash,
        "index": deposit.index,
        "sender": deposit.sender,
        "units": str(deposit.amount),
        "asset_amount": deposit.network.display(deposit.amount),
        "credited_amount": money_text(deposit.credited_amount),
        "rate": money_text(deposit.rate),
        "status": deposit.status,
        "block_height": deposit.block_height,
        "confirmations": deposit.confirmations,
        "late": deposit.late,
        "hold": deposit.hold_id,
        "seen_at": iso(deposit.seen_at),
        "credited_at": iso(deposit.credited_at),
    }


def _event(event: CaseEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "at": iso(event.created_at),
        "actor": username(event.actor),
        "action": event.action,
        "comment": event.comment,
        "before": event.before,
        "after": event.after,
        "amount": money_text(event.amount),
        "currency": event.currency,
    }


def _approval(approval: Approval) -> dict[str, Any]:
    return {
        "id": str(approval.public_id),
        "action": approval.action,
        "params": approval.params,
        "status": approval.status,
        "previous_status": approval.previous_status,
        "requested_by": username(approval.requested_by),
        "requested_comment": approval.requested_comment,
        "requested_at": iso(approval.requested_at),
        "decided_by": username(approval.decided_by),
        "decided_comment": approval.decided_comment,
        "decided_at": iso(approval.decided_at),
    }


def case_file(*, case: Case) -> dict[str, Any]:
    """Everything recorded about ``case``, JSON-serialisable (see the module docstring)."""
    case = Case.objects.select_related("client__user", "assignee").get(pk=case.pk)
    events = CaseEvent.objects.filter(case=case).select_related("actor").order_by("created_at", "id")
    sections = review_sections(case)
    return {
        "format": FORMAT,
        "generated_at": iso(timezone.now()),
        "case": _case(case),
        "client": _client(case),
        "assessments": _assessments(case),
        "deposits": [_deposit(d) for d in case_deposits(case)],
        "holds": sections["holds"],
        "payouts": sections["payouts"],
        "refund_addresses": sections["refund_addresses"],
        "money_movements": sections["money_movements"],
        "events": [_event(e) for e in events],
        "approvals": [_approval(a) for a in approvals_for_case(case)],
        "document_requests": sections["document_requests"],
        "documents": sections["documents"],
        "statements": sections["statements"],
    }
