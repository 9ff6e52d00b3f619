"""Reads of four-eyes approvals for the dashboard and the staff API (no writes here).

``approvals_pending`` is the second approvers' queue, oldest first; ``approvals_for_case`` is a
case's whole approval history (pending and decided), in the order asked. Both bring the people and
the case along in the same query, so a page listing them makes no query per row.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from aml.cases.approval_models import Approval, ApprovalStatus
from aml.cases.models import Case
from nexora.common.errors import NotFound


def _rows() -> QuerySet[Approval]:
    return Approval.objects.select_related("case", "case__client", "case__client__user", "requested_by",
                                           "decided_by")  # fmt: skip


def approvals_pending() -> QuerySet[Approval]:
    return _rows().filter(status=ApprovalStatus.PENDING).order_by("requested_at", "id")


def approvals_for_case(case: Case) -> QuerySet[Approval]:
    return _rows().filter(case=case).order_by("requested_at", "id")


def approval_pending_for_case(case: Case) -> Approval | None:
    return approvals_pending().filter(case=case).first()


def approval_by_public_id(public_id: object) -> Approval:
    """The approval with this public id, or ``NotFound`` (a malformed id is not found either)."""
    try:
        return _rows().get(public_id=uuid.UUID(str(public_id)))
    except (Approval.DoesNotExist, ValueError):
        raise NotFound("No such approval.") from None
