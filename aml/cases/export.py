"""The data of a case file: everything an investigator or a regulator's report needs, as plain JSON.

``case_file(case=...)`` gathers, read-only: the case; the client (account status, balances); every
assessment with each rule's outcome, points, reason and data; the deposits, holds, payouts (with
their status history) and refund addresses of the case's money; every ledger transaction that moved
it, entry by entry; the case's full event trail; the document requests, the documents' metadata
(name, type, size, SHA-256: never the file) and the client's statements.

The result goes through ``json.dumps`` as is: money (Decimal) and chain amounts (int base units,
which a JavaScript reader would round) are strings, times are ISO 8601 in UTC, people are their
usernames ("" for the system). Lists are in the order things happened. The staff dashboard renders
it as a JSON download and a printable page; this module only builds the data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from aml.cases.document_selectors import documents_for_case, requests_for_case, statements_for_case
from aml.cases.models import Case, CaseEvent, ClientDocument, ClientStatement, DocumentRequest
from aml.cases.money import case_deposits, case_holds, case_ledger_transactions, case_payouts
from aml.models import Assessment, RuleOutcome
from nexora.common.models import StatusChange
from payments.models import Deposit, Hold, LedgerTransaction, PayoutRequest, RefundAddress
from payments.selectors.ledger import balance_get

FORMAT = "nexora.case_file/1"


def _dt(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _user(user: Any) -> str:
    return user.get_username() if user is not None else ""


def _case(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "status": case.status,
        "resolution": case.resolution,
        "band": case.band,
        "sanctions": case.sanctions,
        "score": case.score,
        "summary": case.summary,
        "assignee": _user(case.assignee),
        "opened_at": _dt(case.opened_at),
        "closed_at": _dt(case.closed_at),
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
        "created_at": _dt(client.created_at),
        "balance": {"available": _money(balance.available), "held": _money(balance.held)},
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
        "amount": _money(assessment.amount),
        "currency": assessment.currency,
        "score": assessment.score,
        "decision": assessment.decision,
        "sanctions_hit": assessment.sanctions_hit,
        "summary": assessment.summary,
        "created_at": _dt(assessment.created_at),
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
        "credited_amount": _money(deposit.credited_amount),
        "rate": _money(deposit.rate),
        "status": deposit.status,
        "block_height": deposit.block_height,
        "confirmations": deposit.confirmations,
        "late": deposit.late,
        "hold": deposit.hold_id,
        "seen_at": _dt(deposit.seen_at),
        "credited_at": _dt(deposit.credited_at),
    }


def _hold(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.pk,
        "amount": _money(hold.amount),
        "remaining": _money(hold.remaining),
        "currency": hold.currency,
        "status": hold.status,
        "reason": hold.reason,
        "reference": hold.reference,
        "created_at": _dt(hold.created_at),
    }


def _history(entity: str, entity_id: object) -> list[dict[str, Any]]:
    moves = StatusChange.objects.filter(entity=entity, entity_id=str(entity_id)).select_related("actor")
    return [
        {
            "from": m.from_status,
            "to": m.to_status,
            "actor": _user(m.actor),
            "reason": m.reason,
            "at": _dt(m.created_at),
        }
        for m in moves.order_by("created_at", "id")
    ]


def _payout(payout: PayoutRequest) -> dict[str, Any]:
    return {
        "id": str(payout.public_id),
        "status": payout.status,
        "network": payout.network.code,
        "hold": payout.hold_id,
        "destination": payout.destination,
        "destination_kind": payout.destination_kind,
        "source_address": payout.source_address,
        "amount": _money(payout.amount),
        "currency": payout.currency,
        "rate": _money(payout.rate),
        "units": str(payout.units),
        "reason": payout.reason,
        "reference": payout.reference,
        "screening": payout.screening,
        "requested_by": _user(payout.requested_by),
        "approved_by": _user(payout.approved_by),
        "rejected_by": _user(payout.rejected_by),
        "decided_reason": payout.decided_reason,
        "sent_by": _user(payout.sent_by),
        "tx_hash": payout.tx_hash,
        "delivered_units": None if payout.delivered_units is None else str(payout.delivered_units),
        "confirmations": payout.confirmations,
        "failure_reason": payout.failure_reason,
        "return_hold": payout.return_hold_id,
        "created_at": _dt(payout.created_at),
        "history": _history("payout", payout.pk),
    }


def _refund_address(address: RefundAddress) -> dict[str, Any]:
    return {
        "id": address.pk,
        "network": address.network.code,
        "address": address.address,
        "status": address.status,
        "created_at": _dt(address.created_at),
        "confirmed_at": _dt(address.confirmed_at),
    }


def _transaction(txn: LedgerTransaction) -> dict[str, Any]:
    entries = [
        {"account": str(e.account), "amount": _money(e.amount), "currency": e.currency}
        for e in sorted(txn.entries.all(), key=lambda e: e.pk)
    ]
    return {
        "id": txn.pk,
        "kind": txn.kind,
        "idempotency_key": txn.idempotency_key,
        "reference": txn.reference,
        "description": txn.description,
        "hold": txn.hold_id,
        "reverses": txn.reverses_id,
        "created_by": _user(txn.created_by),
        "created_at": _dt(txn.created_at),
        "entries": entries,
    }


def _event(event: CaseEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "at": _dt(event.created_at),
        "actor": _user(event.actor),
        "action": event.action,
        "comment": event.comment,
        "before": event.before,
        "after": event.after,
        "amount": _money(event.amount),
        "currency": event.currency,
    }


def _request(request: DocumentRequest) -> dict[str, Any]:
    return {
        "id": str(request.public_id),
        "items": list(request.items),
        "due_on": _dt(request.due_on),
        "status": request.status,
        "comment": request.comment,
        "created_by": _user(request.created_by),
        "refund_network": request.refund_network.code if request.refund_network else None,
        "created_at": _dt(request.created_at),
        "fulfilled_at": _dt(request.fulfilled_at),
    }


def _document(document: ClientDocument) -> dict[str, Any]:
    return {
        "id": str(document.public_id),
        "request": str(document.request.public_id),
        "item": document.item,
        "name": document.original_name,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "uploaded_by": _user(document.uploaded_by),
        "uploaded_at": _dt(document.created_at),
    }


def _statement(statement: ClientStatement) -> dict[str, Any]:
    return {
        "id": statement.pk,
        "kind": statement.kind,
        "text": statement.text,
        "language": statement.language,
        "created_at": _dt(statement.created_at),
    }


def case_file(*, case: Case) -> dict[str, Any]:
    """Everything recorded about ``case``, JSON-serialisable (see the module docstring)."""
    case = Case.objects.select_related("client__user", "assignee").get(pk=case.pk)
    payouts = case_payouts(case)
    addresses = RefundAddress.objects.filter(client=case.client, reference=f"case:{case.pk}")
    events = CaseEvent.objects.filter(case=case).select_related("actor").order_by("created_at", "id")
    return {
        "format": FORMAT,
        "generated_at": _dt(timezone.now()),
        "case": _case(case),
        "client": _client(case),
        "assessments": _assessments(case),
        "deposits": [_deposit(d) for d in case_deposits(case)],
        "holds": [_hold(h) for h in case_holds(case)],
        "payouts": [_payout(p) for p in payouts],
        "refund_addresses": [_refund_address(a) for a in addresses.select_related("network").order_by("id")],
        "money_movements": [_transaction(t) for t in case_ledger_transactions(case)],
        "events": [_event(e) for e in events],
        "document_requests": [_request(r) for r in requests_for_case(case)],
        "documents": [_document(d) for d in documents_for_case(case)],
        "statements": [_statement(s) for s in statements_for_case(case)],
    }
