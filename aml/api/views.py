"""Thin staff views over the AML selectors: authenticate, parse the filter, read, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics

from aml.api.serializers import AssessmentSerializer
from aml.selectors import assessments_for_client, assessments_for_subject
from nexora.accounts.permissions import HasStaffPermission
from nexora.common.api import error_responses
from nexora.common.errors import ValidationFailed

_FILTERS = [
    OpenApiParameter(
        "subject", str, description="A subject reference: deposit:12, charge:<key>, account:7:email"
    ),
    OpenApiParameter("client", int, description="A client id: every assessment of that client"),
]


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", fields={field: [{"code": "invalid", "message": message}]})


def _client_id(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        raise _bad("client", "a positive integer client id")
    return int(raw)


def _subject_ref(raw: str) -> str:
    if not raw.isprintable() or len(raw) > 240:  # PostgreSQL refuses NUL in text
        raise _bad("subject", "a subject reference such as deposit:12")
    return raw


@extend_schema_view(
    get=extend_schema(
        parameters=_FILTERS,
        responses={200: AssessmentSerializer(many=True), **error_responses(400, 401, 403, 404)},
        description="Assessments (every rule's outcome, points and reason) of one subject or one client, "
        "newest first. Staff with aml.view_assessment only.",
    )
)
class StaffAssessmentListView(generics.ListAPIView):
    permission_classes = [HasStaffPermission]
    required_permission = "aml.view_assessment"
    serializer_class = AssessmentSerializer

    def get_queryset(self) -> Any:
        subject = self.request.query_params.get("subject", "").strip()
        client = self.request.query_params.get("client", "").strip()
        if subject:
            return assessments_for_subject(_subject_ref(subject))
        if client:
            return assessments_for_client(_client_id(client))
        raise ValidationFailed("Filter by subject or by client.", code="filter_required")
