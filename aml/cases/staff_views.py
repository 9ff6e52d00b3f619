"""The staff dashboard's case pages (namespace ``staff``): the queue, a case, approvals, health, case files.

Server-rendered, English for staff (strings still go through gettext). Every view is behind
``staff_permission_required``: anonymous visitors are sent to the login page, clients and staff
without the permission get 403, and two-factor authentication is enforced before any view runs
(``TwoFactorMiddleware``). Reading needs ``READ_PERM``; rules, scores, the reason summary and the
sanctions flag additionally need ``aml.view_assessment`` (support reads the queue and the case's
money and history, never why the engine held it). Action forms are only rendered for the
permissions that allow them; the services check again.

Views are thin: parse the request, call one selector or service, render or redirect. A refused
input (a bad filter, an action the service refuses with a ``NexoraError``) re-renders the page
with the error code and message and an HTTP 4xx status; nothing is written.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import EmptyPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from aml.cases.export import case_file
from aml.cases.models import Case, CaseStatus
from aml.cases.selectors import (
    case_age,
    case_get,
    case_page,
    case_queue,
    queue_assignees,
    queue_filters_parse,
    sla_hours,
)
from aml.cases.services import case_event_add
from nexora.accounts.decorators import staff_permission_required
from nexora.common.errors import NexoraError, NotFound, ValidationFailed
from payments.models import Network, PayoutRequest, PayoutStatus
from payments.selectors.payouts import payout_by_public_id
from payments.selectors.scanner import networks_health
from payments.services.payouts import payout_approve, payout_reject

READ_PERM = "accounts.view_client_data"
ASSESS_PERM = "aml.view_assessment"
PAYOUT_APPROVE_PERM = "payments.approve_payout"
HEALTH_PERM = "payments.view_scancursor"
PAGE_SIZE = 25


def _error_status(exc: NexoraError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


# --- the queue --------------------------------------------------------------------------------


def _queue_context(request: HttpRequest, error: NexoraError | None = None) -> tuple[dict[str, Any], int]:
    scores = request.user.has_perm(ASSESS_PERM)
    context: dict[str, Any] = {
        "scores_visible": scores, "networks": Network.objects.order_by("code"),
        "assignees": queue_assignees(), "sla_hours": sla_hours(), "params": request.GET, "rows": [],
        "statuses": [(s.value, s.label) for s in CaseStatus if s != CaseStatus.CLOSED],
    }  # fmt: skip
    if error is not None:
        return {**context, "error": error}, _error_status(error)
    try:
        filters = queue_filters_parse(request.GET, scores_visible=scores)
        page = Paginator(case_queue(filters, user=request.user), PAGE_SIZE).page(filters.page)
    except ValidationFailed as exc:
        return {**context, "error": exc}, 400
    except EmptyPage:
        return {**context, "error": ValidationFailed("page: no such page.", code="invalid_filter")}, 400
    now = timezone.now()
    rows = [{"case": c, "age": case_age(c, now)} for c in page.object_list]
    query = "&".join(f"{k}={v}" for k, v in filters.as_params.items())
    return {**context, "rows": rows, "page": page, "filters": filters, "query": query}, 200


@staff_permission_required(READ_PERM)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    context, status = _queue_context(request)
    return render(request, "staff/queue.html", context, status=status)


# --- the case page ----------------------------------------------------------------------------


def _case_or_404(case_id: int) -> Case:
    case = case_get(case_id)
    if case is None:
        raise Http404
    return case


def case_context(request: HttpRequest, case: Case, **extra: Any) -> dict[str, Any]:
    user = request.user
    scores = user.has_perm(ASSESS_PERM)
    return {
        **case_page(case, with_assessments=scores),
        "scores_visible": scores,
        "can_export": scores and user.has_perm(READ_PERM),
        "documents_visible": user.has_perm("cases.view_clientdocument"),
        "statements_visible": user.has_perm("cases.view_clientstatement"),
        "sla_hours": sla_hours(),
        **extra,
    }


@staff_permission_required(READ_PERM)
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_or_404(case_id)
    return render(request, "staff/case.html", case_context(request, case))


# --- case files -------------------------------------------------------------------------------


def _exported(request: HttpRequest, case_id: int, fmt: str) -> tuple[Case, dict[str, Any]]:
    case = _case_or_404(case_id)
    data = case_file(case=case)
    case_event_add(case=case, action="case_file_exported", actor=request.user, after={"format": fmt})
    return case, data


@staff_permission_required(ASSESS_PERM)
@staff_permission_required(READ_PERM)
@require_GET
def case_file_json(request: HttpRequest, case_id: int) -> HttpResponse:
    case, data = _exported(request, case_id, "json")
    response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="case-{case.pk}.json"'
    response["Cache-Control"] = "private, no-store"
    return response


@staff_permission_required(ASSESS_PERM)
@staff_permission_required(READ_PERM)
@require_GET
def case_file_html(request: HttpRequest, case_id: int) -> HttpResponse:
    case, data = _exported(request, case_id, "html")
    context = {"file": data, "case": case, "raw": json.dumps(data, indent=2, ensure_ascii=False)}
    response = render(request, "staff/case_file.html", context)
    response["Cache-Control"] = "private, no-store"
    return response


# --- approvals --------------------------------------------------------------------------------


def approvals_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    payouts = PayoutRequest.objects.filter(status=PayoutStatus.REQUESTED).select_related(
        "client__user", "network", "requested_by"
    )
    return {
        "payouts": list(payouts.order_by("created_at", "id")),
        "can_approve_payouts": request.user.has_perm(PAYOUT_APPROVE_PERM),
        **extra,
    }


@staff_permission_required(READ_PERM)
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/approvals.html", approvals_context(request))


@staff_permission_required(PAYOUT_APPROVE_PERM)
@require_POST
def payout_decide(request: HttpRequest, payout_id: str, decision: str) -> HttpResponse:
    if decision not in ("approve", "reject"):
        raise Http404
    try:
        payout = payout_by_public_id(payout_id)
    except NotFound:
        raise Http404 from None
    comment = request.POST.get("comment", "").strip()
    try:
        if not comment:
            raise ValidationFailed("Say why (a comment is required).", code="comment_required")
        if decision == "approve":
            payout_approve(payout=payout, actor=request.user, comment=comment)
        else:
            payout_reject(payout=payout, actor=request.user, reason=comment)
    except NexoraError as exc:
        context = approvals_context(request, error=exc, error_payout=str(payout.public_id))
        return render(request, "staff/approvals.html", context, status=_error_status(exc))
    if decision == "approve":
        messages.success(request, gettext("The refund is approved; the treasury can send it."))
    else:
        messages.success(request, gettext("The refund is rejected."))
    return redirect("staff:approvals")


# --- network health ---------------------------------------------------------------------------


@staff_permission_required(HEALTH_PERM)
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/health.html", {"networks": networks_health()})
