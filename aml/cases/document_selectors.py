"""Reads for the client's side of a review: requests, documents, statements, the case shown.

Every client-facing read is scoped to the client: another client's request or document does not
exist for them (404, never 403). ``review_case_for_client`` is the case the review page is about:
the client's open case, else their most recent closed one (a decision they may still contest).
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from django.db import models
from django.db.models import QuerySet

from aml.cases.models import (
    Case,
    CaseStatus,
    ClientDocument,
    ClientStatement,
    DocumentRequest,
    DocumentRequestStatus,
)
from nexora.accounts.models import ClientProfile
from nexora.common.errors import NotFound

M = TypeVar("M", bound=models.Model)
ACTIVE_REQUEST = (DocumentRequestStatus.OPEN, DocumentRequestStatus.OVERDUE)


def documents_for_case(case: Case) -> QuerySet[ClientDocument]:
    return ClientDocument.objects.filter(case=case).select_related("request", "uploaded_by").order_by("id")


def statements_for_case(case: Case) -> QuerySet[ClientStatement]:
    return ClientStatement.objects.filter(case=case).order_by("id")


def requests_for_case(case: Case) -> QuerySet[DocumentRequest]:
    return (
        DocumentRequest.objects.filter(case=case)
        .select_related("refund_network", "created_by")
        .order_by("id")
    )


def open_requests_for_client(client: ClientProfile) -> QuerySet[DocumentRequest]:
    """Requests the client can still answer (open or overdue), oldest due first."""
    return (
        DocumentRequest.objects.filter(case__client=client, status__in=ACTIVE_REQUEST)
        .select_related("case", "refund_network")
        .prefetch_related("documents")
        .order_by("due_on", "id")
    )


def review_case_for_client(client: ClientProfile) -> Case | None:
    open_case = Case.objects.filter(client=client).exclude(status=CaseStatus.CLOSED).first()
    if open_case is not None:
        return open_case
    return Case.objects.filter(client=client).order_by("-closed_at", "-id").first()


def request_for_client(client: ClientProfile, public_id: object) -> DocumentRequest:
    request = _by_public_id(DocumentRequest.objects.filter(case__client=client), public_id)
    if request is None:
        raise NotFound("No such request.")
    return request


def document_for_client(client: ClientProfile, public_id: object) -> ClientDocument:
    document = _by_public_id(ClientDocument.objects.filter(client=client), public_id)
    if document is None:
        raise NotFound("No such document.")
    return document


def document_get(public_id: object) -> ClientDocument:
    """Any client's document, for staff holding ``cases.view_clientdocument`` (the view checks)."""
    document = _by_public_id(ClientDocument.objects.all(), public_id)
    if document is None:
        raise NotFound("No such document.")
    return document


def _by_public_id(qs: QuerySet[M], public_id: object) -> M | None:
    try:
        key = UUID(str(public_id))
    except ValueError:
        return None
    return qs.filter(public_id=key).first()
