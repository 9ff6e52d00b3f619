"""The case file's sections about the money's way back and the client's side of the review.

``review_sections(case)`` adds to the case file (``aml.cases.export``): the holds keeping the case's
money (including those a failed refund put money back into), every payout made from them with its
status history, the refund addresses the client gave for the case, every ledger transaction that
moved the case's money (on its holds, and the settlements of its payouts), the document requests,
the documents' metadata (name, type, size, SHA-256; never the file) and the client's statements.
It is its own module so the case file can be assembled from independent sections; the helpers
below are the case file's one way of writing times, money and people.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aml.cases.document_selectors import documents_for_case, requests_for_case, statements_for_case
from aml.cases.models import Case, ClientDocument, ClientStatement, DocumentRequest
from aml.cases.money import case_holds, case_ledger_transactions, case_payouts
from nexora.common.models import StatusChange
from payments.models import Hold, LedgerTransaction, PayoutRequest, RefundAddress


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def money_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def username(user: Any) -> str:
    return user.get_username() if user is not None else ""


def _hold(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.pk,
        "amount": money_text(hold.amount),
        "remaining": money_text(hold.remaining),
        "currency": hold.currency,
        "status": hold.status,
        "reason": hold.reason,
        "reference": hold.reference,
        "created_at": iso(hold.created_at),
    }


def _history(entity: str, entity_id: object) -> list[dict[str, Any]]:
    moves = StatusChange.objects.filter(entity=entity, entity_id=str(entity_id)).select_related("actor")
    return [
        {
            "from": m.from_status,
            "to": m.to_status,
            "actor": username(m.actor),
            "reason": m.reason,
            "at": iso(m.created_at),
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
        "amount": money_text(payout.amount),
        "currency": payout.currency,
        "rate": money_text(payout.rate),
        "units": str(payout.units),
        "reason": payout.reason,
        "reference": payout.reference,
        "screening": payout.screening,
        "requested_by": username(payout.requested_by),
        "approved_by": username(payout.approved_by),
        "rejected_by": username(payout.rejected_by),
        "decided_reason": payout.decided_reason,
        "sent_by": username(payout.sent_by),
        "tx_hash": payout.tx_hash,
        "delivered_units": None if payout.delivered_units is None else str(payout.delivered_units),
        "confirmations": payout.confirmations,
        "failure_reason": payout.failure_reason,
        "return_hold": payout.return_hold_id,
        "created_at": iso(payout.created_at),
        "history": _history("payout", payout.pk),
    }


def _refund_address(address: RefundAddress) -> dict[str, Any]:
    return {
        "id": address.pk,
        "network": address.network.code,
        "address": address.address,
        "status": address.status,
        "created_at": iso(address.created_at),
        "confirmed_at": iso(address.confirmed_at),
    }


def _transaction(txn: LedgerTransaction) -> dict[str, Any]:
    entries = [
        {"account": str(e.account), "amount": money_text(e.amount), "currency": e.currency}
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
        "created_by": username(txn.created_by),
        "created_at": iso(txn.created_at),
        "entries": entries,
    }


def _request(request: DocumentRequest) -> dict[str, Any]:
    return {
        "id": str(request.public_id),
        "items": list(request.items),
        "due_on": iso(request.due_on),
        "status": request.status,
        "comment": request.comment,
        "created_by": username(request.created_by),
        "refund_network": request.refund_network.code if request.refund_network else None,
        "created_at": iso(request.created_at),
        "fulfilled_at": iso(request.fulfilled_at),
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
        "uploaded_by": username(document.uploaded_by),
        "uploaded_at": iso(document.created_at),
    }


def _statement(statement: ClientStatement) -> dict[str, Any]:
    return {
        "id": statement.pk,
        "kind": statement.kind,
        "text": statement.text,
        "language": statement.language,
        "created_at": iso(statement.created_at),
    }


def review_sections(case: Case) -> dict[str, Any]:
    """The holds, payouts, refund addresses, money movements, requests, documents and statements."""
    addresses = RefundAddress.objects.filter(client=case.client, reference=f"case:{case.pk}")
    return {
        "holds": [_hold(h) for h in case_holds(case)],
        "payouts": [_payout(p) for p in case_payouts(case)],
        "refund_addresses": [_refund_address(a) for a in addresses.select_related("network").order_by("id")],
        "money_movements": [_transaction(t) for t in case_ledger_transactions(case)],
        "document_requests": [_request(r) for r in requests_for_case(case)],
        "documents": [_document(d) for d in documents_for_case(case)],
        "statements": [_statement(s) for s in statements_for_case(case)],
    }
