"""The staff dashboard's case pages (namespace ``staff``): the queue, a case, approvals, health, case files.

Server-rendered, English for staff (strings still go through gettext). Every view is behind
``staff_permission_required``: anonymous visitors are sent to the login page, clients and staff
without the permission get 403, and two-factor authentication is enforced before any view runs
(``TwoFactorMiddleware``). Reading needs ``READ_PERM``; rules, scores, the reason summary, the
sanctions flag, list results and staff comments (which may name a rule or a list) additionally
need ``aml.view_assessment``, documents and statements their own ``cases.view_*`` permissions:
support reads the queue, the client's money and what was done when, never why. Action forms are
only rendered for the permissions that allow them, and while a decision awaits its second approval
only notes and assignment are offered; the services check again.

Views are thin: parse the request, call one selector or service, render or redirect. A refused
input (a bad filter, an action the service refuses with a ``NexoraError``) re-renders the page
with the error code and message and an HTTP 4xx status; nothing is written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from django.contrib import messages
from django.core.paginator import EmptyPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from aml.cases.actions import CASE_ACTIONS, ActionResult, approval_cancel, approval_decide, case_next
from aml.cases.approval_selectors import approval_by_public_id, approvals_for_case, approvals_pending
from aml.cases.export import case_file
from aml.cases.models import Case, CaseStatus, DocumentItem
from aml.cases.money import case_holds
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
from payments.models import HoldStatus, Network, PayoutRequest, PayoutStatus
from payments.selectors.payouts import payout_by_public_id
from payments.selectors.scanner import networks_health
from payments.services.payouts import payout_approve, payout_reject

READ_PERM = "cases.view_case"
WORK_PERM, DECIDE_PERM = "cases.work_case", "cases.decide_case"
ASSESS_PERM = "aml.view_assessment"
PAYOUT_APPROVE_PERM = "payments.approve_payout"
HEALTH_PERM = "payments.view_scancursor"
PAGE_SIZE = 25
# Who may use each action's form (the services check again); the order is the page's.
ACTION_PERMS = {
    "note": WORK_PERM, "release": WORK_PERM, "request_documents": WORK_PERM, "refund": WORK_PERM,
    "escalate": WORK_PERM, "close_false_positive": WORK_PERM, "assign": WORK_PERM,
    "unfreeze": DECIDE_PERM, "terminate": DECIDE_PERM,
}  # fmt: skip
DOCUMENT_ITEMS = [(i.value, i.label) for i in DocumentItem]
ACTION_DONE = {
    "assign": _("The case is assigned."),
    "note": _("The note is added."),
    "release": _("The money is released."),
    "request_documents": _("The client is asked for documents."),
    "refund": _("The refund is requested; a compliance lead approves it in Approvals."),
    "escalate": _("The case is escalated."),
    "unfreeze": _("The account is unfrozen."),
    "terminate": _("The account is terminated."),
    "close_false_positive": _("The case is closed as a false positive."),
}


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


def _offered(case: Case) -> list[str]:
    """The actions a case in its status can take: while a decision awaits its second approval,
    only notes and assignment (the services refuse the rest with ``approval_pending``)."""
    names = [n for n in CASE_ACTIONS if n in ACTION_PERMS]
    if case.status == CaseStatus.PENDING_APPROVAL:
        return [n for n in names if n in ("assign", "note")]
    return names


def case_context(request: HttpRequest, case: Case, **extra: Any) -> dict[str, Any]:
    user = request.user
    scores = user.has_perm(ASSESS_PERM)
    approvals = list(approvals_for_case(case))
    closed = case.status == CaseStatus.CLOSED
    return {
        **case_page(case, with_assessments=scores),
        "approvals": approvals,
        "pending_approvals": [a for a in approvals if a.status == "pending"],
        "actions": [] if closed else [n for n in _offered(case) if user.has_perm(ACTION_PERMS[n])],
        "can_snooze": user.has_perm("aml.snooze_rule"),
        "today": timezone.localdate(),
        "request_key": uuid.uuid4().hex,  # a double-submitted release form happens once
        "document_items": DOCUMENT_ITEMS,
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


# --- actions ----------------------------------------------------------------------------------


def _field_error(name: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={name: [{"code": code, "message": message}]})


def _date(post: Mapping[str, Any], name: str) -> date | None:
    raw = str(post.get(name, "")).strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _field_error(name, "invalid_date", f"{name}: a date as YYYY-MM-DD.") from None


def _network(post: Mapping[str, Any]) -> Network | None:
    code = str(post.get("network", "")).strip()
    if not code:
        return None
    network = Network.objects.filter(code=code).first()
    if network is None:
        raise _field_error("network", "unknown_network", "network: no such network.")
    return network


def _hold(case: Case, post: Mapping[str, Any]) -> Any:
    raw = str(post.get("hold", "")).strip()
    if not raw:
        return None
    found = [h for h in case_holds(case) if h.status == HoldStatus.ACTIVE and str(h.pk) == raw]
    if not found:
        raise _field_error("hold", "unknown_hold", "hold: not a hold of this case.")
    return found[0]


def _text(post: Mapping[str, Any], name: str) -> str | None:
    raw = str(post.get(name, "")).strip()
    return raw or None


def action_kwargs(name: str, case: Case, post: Any) -> dict[str, Any]:
    """The keyword arguments of action ``name`` from its form (each action's own fields)."""
    kwargs: dict[str, Any] = {"case": case, "comment": post.get("comment", "")}
    if name == "release":
        kwargs.update(amount=_text(post, "amount"), request_key=str(post.get("request_key", "")))
    elif name == "request_documents":
        kwargs.update(items=post.getlist("items"), due_on=_date(post, "due_on"), network=_network(post))
        if kwargs["due_on"] is None:
            raise _field_error("due_on", "due_date_required", "due_on: when the documents are due.")
    elif name == "refund":
        kwargs.update(hold=_hold(case, post), amount=_text(post, "amount"))
    elif name == "close_false_positive":
        kwargs.update(
            snooze_rule=str(post.get("snooze_rule", "")).strip(), snooze_until=_date(post, "snooze_until")
        )
    elif name == "assign":
        kwargs.pop("comment")
    return kwargs


def _action_refused(request: HttpRequest, case: Case, name: str, exc: NexoraError) -> HttpResponse:
    context = case_context(request, case, error=exc, error_action=name, posted=request.POST)
    context["error_inline"] = name in context["actions"]
    return render(request, "staff/case.html", context, status=_error_status(exc))


def _action_done(request: HttpRequest, name: str, result: ActionResult) -> None:
    if result.pending:
        messages.info(
            request, gettext("Recorded. It waits for a second, different compliance lead in Approvals.")
        )
    else:
        messages.success(request, ACTION_DONE[name])


@staff_permission_required(READ_PERM)
@require_POST
def case_action(request: HttpRequest, case_id: int, name: str) -> HttpResponse:
    case = _case_or_404(case_id)
    action = CASE_ACTIONS.get(name)
    if action is None or name not in ACTION_PERMS:
        raise Http404
    try:
        result = action(actor=request.user, **action_kwargs(name, case, request.POST))
    except NexoraError as exc:
        return _action_refused(request, case, name, exc)
    _action_done(request, name, result)
    if request.POST.get("next") == "queue":
        return redirect("staff:queue")
    return redirect("staff:case", case_id=case.pk)


@staff_permission_required(WORK_PERM)
@require_POST
def queue_next(request: HttpRequest) -> HttpResponse:
    try:
        case = case_next(actor=request.user)
    except NexoraError as exc:
        context, _ = _queue_context(request, error=exc)
        return render(request, "staff/queue.html", context, status=_error_status(exc))
    if case is None:
        messages.info(request, gettext("No open case is waiting for you."))
        return redirect("staff:queue")
    return redirect("staff:case", case_id=case.pk)


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
        "case_approvals": list(approvals_pending()),
        "comments_visible": request.user.has_perm(ASSESS_PERM),
        "can_decide_cases": request.user.has_perm(DECIDE_PERM),
        "can_work_cases": request.user.has_perm(WORK_PERM),
        "payouts": list(payouts.order_by("created_at", "id")),
        "can_approve_payouts": request.user.has_perm(PAYOUT_APPROVE_PERM),
        **extra,
    }


@staff_permission_required(READ_PERM)
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/approvals.html", approvals_context(request))


APPROVAL_DONE = {
    "approve": _("Approved and carried out (case #%(id)s)."),
    "reject": _("Rejected; case #%(id)s is back as it was."),
    "withdraw": _("Withdrawn; case #%(id)s is back as it was."),
}


def _approval_run(approval: Any, actor: Any, decision: str, comment: str) -> ActionResult:
    if decision == "withdraw":
        return approval_cancel(approval=approval, actor=actor, comment=comment)
    if decision not in ("approve", "reject"):
        raise _field_error("decision", "invalid_decision", "decision: approve, reject or withdraw.")
    return approval_decide(approval=approval, actor=actor, approve=decision == "approve", comment=comment)


@staff_permission_required(WORK_PERM)
@require_POST
def approval_decide_view(request: HttpRequest, approval_id: str) -> HttpResponse:
    """A second lead approves or rejects; the requester (or a lead) withdraws. The services check who."""
    try:
        approval = approval_by_public_id(approval_id)
    except NotFound:
        raise Http404 from None
    decision = str(request.POST.get("decision", ""))
    try:
        result = _approval_run(approval, request.user, decision, request.POST.get("comment", ""))
    except NexoraError as exc:
        context = approvals_context(request, error=exc, error_approval=str(approval.public_id))
        return render(request, "staff/approvals.html", context, status=_error_status(exc))
    messages.success(request, APPROVAL_DONE[decision] % {"id": result.case.pk})
    return redirect("staff:approvals")


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
