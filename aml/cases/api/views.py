"""Thin staff views over cases: authenticate, parse, read or call one service, render.

Reads need ``READ_PERMISSION``; what a reader sees of the engine's work (rule names, scores,
points, summaries) depends on ``aml.view_assessment`` (``serializers`` module docstring). The case
file holds every rule outcome, so it needs ``aml.view_assessment`` itself. Another case id is a 404
``case_not_found``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aml.cases.api import serializers as s
from aml.cases.api.selectors import (
    CaseFilter,
    case_assessments,
    case_events,
    case_for_staff,
    case_held_amounts,
    cases_filtered,
)
from aml.cases.document_selectors import documents_for_case, requests_for_case, statements_for_case
from aml.cases.export import case_file
from aml.cases.models import Case
from aml.cases.money import case_deposits, case_holds, case_payouts
from aml.cases.services import case_event_add
from nexora.accounts.permissions import HasStaffPermission
from nexora.common.api import error_responses
from payments.selectors.ledger import balance_get

READ_PERMISSION = "accounts.view_client_data"  # until cases.view_case lands with the case actions
ASSESSMENT_PERMISSION = "aml.view_assessment"


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    return {"request": request, "assessments": request.user.has_perm(ASSESSMENT_PERMISSION), **extra}


class StaffCaseView(APIView):
    permission_classes = [HasStaffPermission]
    required_permission = READ_PERMISSION


class CaseListView(generics.ListAPIView):
    permission_classes = [HasStaffPermission]
    required_permission = READ_PERMISSION
    serializer_class = s.CaseSerializer

    @extend_schema(
        parameters=[s.CaseListQuerySerializer],
        responses={200: s.CaseSerializer(many=True), **error_responses(400, 401, 403, 404)},
        description="The case queue, oldest first by default, filtered by status, band, sanctions, "
        "assignee and client. Paginated (page, page_size). score and summary are null for readers "
        "without aml.view_assessment.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = s.CaseListQuerySerializer(data=request.query_params, context={"user": request.user})
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(cases_filtered(CaseFilter(**_filter_args(query.validated_data))))
        assert page is not None  # the default pagination class is set
        context = _context(request, held=case_held_amounts(page))
        return self.get_paginated_response(s.CaseSerializer(page, many=True, context=context).data)


def _filter_args(data: dict[str, Any]) -> dict[str, Any]:
    names = {"status": "statuses", "band": "band", "sanctions": "sanctions", "assignee": "assignee",
             "client": "client", "ordering": "ordering"}  # fmt: skip
    return {names[k]: v for k, v in data.items() if v is not None}


def case_detail_data(case: Case) -> dict[str, Any]:
    client = case.client
    balance = balance_get(client=client)
    return {
        "case": case,
        "client": {
            "id": client.pk,
            "username": client.user.username,
            "status": client.status,
            "currency": client.currency,
            "language": client.language,
            "available": balance.available,
            "held": balance.held,
        },
        "assessments": list(case_assessments(case)),
        "holds": case_holds(case),
        "deposits": case_deposits(case),
        "payouts": case_payouts(case),
        "document_requests": list(requests_for_case(case)),
        "documents": list(documents_for_case(case)),
        "statements": list(statements_for_case(case)),
        "events": list(case_events(case)),
    }


class CaseDetailView(StaffCaseView):
    @extend_schema(
        responses={200: s.CaseDetailSerializer, **error_responses(401, 403, 404)},
        description="A case with its client, assessments (rule outcomes for aml.view_assessment "
        "holders only), holds with what remains, deposits, payouts, document requests, documents' "
        "metadata, statements and the full event trail.",
    )
    def get(self, request: Request, pk: int) -> Response:
        case = case_for_staff(pk)
        held = case_held_amounts([case])
        data = s.CaseDetailSerializer(case_detail_data(case), context=_context(request, held=held)).data
        return Response(data)


class CaseFileView(StaffCaseView):
    required_permission = ASSESSMENT_PERMISSION

    @extend_schema(
        responses={200: {"type": "object", "additionalProperties": True}, **error_responses(401, 403, 404)},
        description="The case file (format nexora.case_file/1): everything recorded about the case, "
        "as JSON. Each export is recorded in the case trail (case_file_exported).",
    )
    def get(self, request: Request, pk: int) -> Response:
        case = case_for_staff(pk)
        data = case_file(case=case)
        case_event_add(case=case, action="case_file_exported", actor=request.user, comment="staff API")
        return Response(data)
