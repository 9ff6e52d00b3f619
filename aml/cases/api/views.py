"""Thin staff views over cases: authenticate, parse, read or call one service, render.

Reads need ``READ_PERMISSION``; what a reader sees of the engine's work (rule names, scores,
points, summaries) depends on ``aml.view_assessment`` (``serializers`` module docstring). The case
file holds every rule outcome, so it needs ``aml.view_assessment`` itself. Another case id is a 404
``case_not_found``.

Actions and decisions: a role that can never act (no ``cases.work_case``; no ``cases.decide_case``
for a decision) is refused first, before the body or the ids are read; the services then check
everything again (the action's own permission, the comment, the state, four-eyes) and their
errors keep their codes. An action answers 200 when done and 202 when it waits for a second
approval; an ``Idempotency-Key`` makes a retried POST replay the first answer (``idempotency``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aml.cases.actions import CASE_ACTIONS, ActionResult, approval_decide
from aml.cases.api import serializers as s
from aml.cases.api.arguments import action_kwargs
from aml.cases.api.idempotency import idempotency_request_key, idempotent
from aml.cases.api.selectors import (
    CaseFilter,
    case_assessments,
    case_events,
    case_for_staff,
    case_held_amounts,
    cases_filtered,
)
from aml.cases.approval_selectors import approval_by_public_id, approvals_for_case, approvals_pending
from aml.cases.document_selectors import documents_for_case, requests_for_case, statements_for_case
from aml.cases.export import case_file
from aml.cases.models import Case
from aml.cases.money import case_deposits, case_holds, case_payouts
from aml.cases.services import case_event_add
from nexora.accounts.permissions import HasStaffPermission
from nexora.common.api import error_responses
from nexora.common.errors import NotFound, PermissionDenied, ValidationFailed
from payments.selectors.ledger import balance_get

READ_PERMISSION = "cases.view_case"
ASSESSMENT_PERMISSION = "aml.view_assessment"
WORK_PERMISSION, DECIDE_PERMISSION = "cases.work_case", "cases.decide_case"


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
        "approvals": list(approvals_for_case(case)),
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


# --- actions and approvals -----------------------------------------------------------------------


def _result(request: Request, result: ActionResult) -> Response:
    """200 when the action is done; 202 when it waits for a second approval (nothing moved)."""
    case = case_for_staff(result.case.pk)
    context = _context(request, held=case_held_amounts([case]))
    body = {"case": case, "pending": result.pending, "approval": result.approval}
    code = status.HTTP_202_ACCEPTED if result.pending else status.HTTP_200_OK
    return Response(s.ActionResultSerializer(body, context=context).data, status=code)


_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Resend the same key to retry safely: the first answer is replayed and nothing runs twice.",
)  # fmt: skip
_ACTIONS_DOC = (
    "Run a case action (" + ", ".join(CASE_ACTIONS) + ") with a mandatory comment (except assign).\n\n"
    "* **200** done; **202** `pending`: four-eyes, nothing moved until a second lead approves "
    "(`approval` is the request to decide).\n"
    "* **400** bad input, nothing written: `invalid_input` (a field the action does not take, a "
    "malformed value), `comment_required`, `invalid_amount`, `invalid_due_date`, `unknown_network`, "
    "`invalid_assignee` ...\n"
    "* **403** `permission_denied` (cases.work_case, or cases.decide_case for unfreeze and terminate).\n"
    "* **404** `case_not_found`, `unknown_action`, `not_found` (a hold that is not the case's).\n"
    "* **409** `case_closed`, `approval_pending`, `nothing_held`, `hold_exceeded`, "
    "`refund_forbidden_sanctions`, `idempotency_key_reused` ..."
)


class CaseActionView(StaffCaseView):
    @extend_schema(
        request=s.ActionBodySerializer,
        parameters=[_IDEMPOTENCY],
        responses={
            200: s.ActionResultSerializer,
            202: s.ActionResultSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        description=_ACTIONS_DOC,
    )
    def post(self, request: Request, pk: int, name: str) -> Response:
        _refuse_unless(request, WORK_PERMISSION, "permission_denied")
        case = case_for_staff(pk)
        action = CASE_ACTIONS.get(name)
        if action is None:
            raise NotFound(f"There is no case action {name!r}.", code="unknown_action")
        return idempotent(request, f"case:{case.pk}:{name}", lambda: self._run(request, case, action))

    def _run(self, request: Request, case: Case, action: Callable[..., ActionResult]) -> Response:
        given = _body(request)
        body = s.ActionBodySerializer(data=given)
        body.is_valid(raise_exception=True)
        kwargs = action_kwargs(action, case=case, given=given, data=body.validated_data,
                               request_key=idempotency_request_key(request))  # fmt: skip
        return _result(request, action(case=case, actor=request.user, **kwargs))


@extend_schema_view(
    get=extend_schema(
        responses={200: s.ApprovalSerializer(many=True), **error_responses(401, 403, 404)},
        description="Four-eyes approvals waiting for a second compliance lead, oldest first.",
    )
)
class ApprovalListView(generics.ListAPIView):
    permission_classes = [HasStaffPermission]
    required_permission = READ_PERMISSION
    serializer_class = s.ApprovalSerializer

    def get_queryset(self) -> Any:
        return approvals_pending()

    def get_serializer_context(self) -> dict[str, Any]:
        return _context(self.request)


class ApprovalDecideView(StaffCaseView):
    @extend_schema(
        request=s.DecideBodySerializer,
        parameters=[_IDEMPOTENCY],
        responses={200: s.ActionResultSerializer, **error_responses(400, 401, 403, 404, 409)},
        description="The second pair of eyes: approve (the pending action runs now) or reject (the "
        "case goes back to its previous status), with a comment. 403 `four_eyes_lead_required` "
        "(not a compliance lead) or `four_eyes_same_person` (the requester); 409 `approval_decided`.",
    )
    def post(self, request: Request, public_id: str) -> Response:
        _refuse_unless(request, DECIDE_PERMISSION, "four_eyes_lead_required")
        approval = approval_by_public_id(public_id)
        return idempotent(request, f"approval:{approval.pk}", lambda: self._run(request, approval))

    def _run(self, request: Request, approval: Any) -> Response:
        body = s.DecideBodySerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = approval_decide(
            approval=approval, actor=request.user, approve=data["approve"], comment=data["comment"]
        )
        return _result(request, result)


def _refuse_unless(request: Request, permission: str, code: str) -> None:
    """Refuse a role that can never act before reading anything (the services check again, in full)."""
    if not request.user.has_perm(permission):
        raise PermissionDenied("Your role does not allow this action.", code=code)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed("Send a JSON object.", code="malformed_request")
    return request.data
