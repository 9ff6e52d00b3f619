"""Reads behind the staff dashboard: the case queue and everything the case page shows.

The queue (``case_queue``) is one SQL query per page, whatever the number of cases: the amount
still held is a correlated subquery summing the active holds of the case's subjects, found the
way ``aml.cases.money`` finds them (a deposit's hold, the hold a re-screen moved a deposit's money
into, a charge's hold, a payout's hold, and the holds up to two failed refunds returned money
to), so it can be filtered, sorted and paginated in the database. The network filter is an
``EXISTS`` on the case's deposits. Query parameters are parsed by ``queue_filters_parse``: an
unknown value is a ``ValidationFailed`` with the parameter as its field (HTTP 400), never a
silently ignored filter.

The case page (``case_page``) gathers the client (profile, KYC level and limits, balances), the
assessments with every rule's outcome, the deposits with their explorer links and the outcomes of
the list rules about their source address, the client's recent top-ups, charges and the case's
events as one timeline with a small volume chart, the notes, document requests, documents,
statements, payouts and pending approvals. A bounded number of queries, none per row. Whether a
reader may see assessments (rules, scores) is the view's decision: ``with_assessments=False``
does not even read them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import (
    CharField,
    DecimalField,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from aml.cases.document_selectors import documents_for_case, requests_for_case, statements_for_case
from aml.cases.models import Case, CaseEvent, CaseStatus
from aml.cases.money import case_deposits, case_holds, case_payouts
from aml.engine import ruleset_in_force_checked
from aml.kyc import kyc_level_get, kyc_limits
from aml.models import Assessment, Decision, RuleOutcome
from nexora.accounts.models import User
from nexora.common.errors import ValidationFailed
from payments.models import Charge, Deposit, Hold, HoldStatus, Network, PayoutRequest, TopUp
from payments.models.ledger import MONEY_DIGITS, MONEY_PLACES
from payments.selectors.ledger import Balance, balance_get
from payments.selectors.topups import explorer_tx_url

OPEN_STATUSES = tuple(s for s in CaseStatus.values if s != CaseStatus.CLOSED)
SORTS = {
    "opened": ("opened_at", "id"),
    "-opened": ("-opened_at", "-id"),
    "held": ("held", "opened_at", "id"),
    "-held": ("-held", "opened_at", "id"),
    "score": ("score", "opened_at", "id"),
    "-score": ("-score", "opened_at", "id"),
}
SCORE_SORTS = frozenset({"score", "-score"})  # rules and scores are for aml.view_assessment only
MAX_AGE_HOURS = 24 * 366
LIST_RULES = ("sanctions_list", "deny_list")  # the rules that screen a source address
TIMELINE_LIMIT = 100
CHART_DAYS = 30

# --- explorer links ---------------------------------------------------------------------------


def explorer_address_url(network: Network, address: str) -> str:
    """The network's explorer page of ``address`` ("" when the network has no explorer)."""
    template = network.explorer_address_url
    return template.replace("{address}", address) if template and address else ""


# --- the queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""
    band: str = ""
    sanctions: bool | None = None
    network: str = ""
    assignee: str = ""  # "", "me", "unassigned" or a user id
    age: int | None = None  # opened at least this many hours ago
    sort: str = "opened"
    page: int = 1
    as_params: dict[str, str] = field(default_factory=dict)  # what was given, for links


def _invalid(param: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{param}: {message}",
        code="invalid_filter",
        fields={param: [{"code": "invalid_filter", "message": message}]},
    )


def _choice(params: Any, name: str, allowed: tuple[str, ...] | frozenset[str]) -> str:
    value = str(params.get(name, "")).strip()
    if value and value not in allowed:
        raise _invalid(name, f"use one of {', '.join(sorted(allowed))}.")
    return value


def _int(params: Any, name: str, low: int, high: int) -> int | None:
    raw = str(params.get(name, "")).strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _invalid(name, f"a whole number from {low} to {high}.")
    return int(raw)


def _assignee(params: Any) -> str:
    value = str(params.get("assignee", "")).strip()
    if value in ("", "me", "unassigned"):
        return value
    if value.isdigit() and User.objects.filter(pk=int(value), is_staff=True).exists():
        return value
    raise _invalid("assignee", "use me, unassigned or a staff member of the list.")


def queue_filters_parse(params: Any, *, scores_visible: bool) -> QueueFilters:
    """The queue's GET parameters, validated (``ValidationFailed`` naming the bad one)."""
    sorts = frozenset(SORTS) if scores_visible else frozenset(SORTS) - SCORE_SORTS
    sanctions = _choice(params, "sanctions", ("yes", "no")) if scores_visible else ""
    network = str(params.get("network", "")).strip()
    if network and not Network.objects.filter(code=network).exists():
        raise _invalid("network", "no such network.")
    names = ("status", "band", "sanctions", "network", "assignee", "age", "sort")
    return QueueFilters(
        status=_choice(params, "status", OPEN_STATUSES),
        band=_choice(params, "band", (Decision.REVIEW, Decision.FREEZE)),
        sanctions={"yes": True, "no": False}.get(sanctions),
        network=network,
        assignee=_assignee(params),
        age=_int(params, "age", 0, MAX_AGE_HOURS),
        sort=_choice(params, "sort", sorts) or "opened",
        page=_int(params, "page", 1, 10**6) or 1,
        as_params={n: str(params[n]) for n in names if params.get(n)},
    )


def _refs(depth: int) -> QuerySet[Assessment, Any]:
    """Subject refs of the case ``depth`` subqueries out (1: the query on Case itself)."""
    ref: Any = OuterRef("pk")
    for _ in range(depth - 1):
        ref = OuterRef(ref)
    return Assessment.objects.filter(case_item__case_id=ref).values("subject_ref")


def _hold_refs() -> dict[str, Any]:
    text = CharField()
    annotations: dict[str, Any] = {}
    for level, path in enumerate(
        ("", "returned_payout__hold__", "returned_payout__hold__returned_payout__hold__")
    ):
        annotations[f"dep{level}"] = Concat(
            Value("deposit:"), Cast(f"{path}deposit__id", text), output_field=text
        )
        annotations[f"chg{level}"] = Concat(
            Value("charge:"), f"{path}charge__idempotency_key", output_field=text
        )
        annotations[f"ref{level}"] = Coalesce(f"{path}reference", Value(""), output_field=text)
    return annotations


def held_expression() -> Coalesce:
    """The case's amount still held (for ``Case.objects.annotate``): see the module docstring."""
    refs = _refs(2)
    payout_refs = PayoutRequest.objects.annotate(
        ref=Concat(Value("payout:"), Cast("id", CharField()), output_field=CharField())
    ).filter(ref__in=_refs(3))
    match = Q(pk__in=payout_refs.values("hold_id"))
    for level in range(3):
        match |= Q(**{f"dep{level}__in": refs}) | Q(**{f"chg{level}__in": refs})
        match |= Q(**{f"ref{level}__startswith": "deposit:", f"ref{level}__in": refs})
    holds = (
        Hold.objects.annotate(**_hold_refs())
        .filter(match, status=HoldStatus.ACTIVE)
        .order_by()
        .values("status")
        .annotate(total=Sum("remaining"))
        .values("total")[:1]
    )
    money = DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    return Coalesce(Subquery(holds, output_field=money), Value(Decimal("0.00")), output_field=money)


def _network_exists(code: str) -> Exists:
    deposits = Deposit.objects.annotate(
        ref=Concat(Value("deposit:"), Cast("id", CharField()), output_field=CharField())
    ).filter(network__code=code, ref__in=_refs(2))
    return Exists(deposits)


def case_queue(filters: QueueFilters, *, user: Any, now: datetime | None = None) -> QuerySet[Case]:
    """Open cases matching ``filters``, with ``held`` annotated, in the requested order."""
    now = now or timezone.now()
    qs = Case.objects.filter(status__in=OPEN_STATUSES).select_related("client__user", "assignee")
    qs = qs.annotate(held=held_expression())
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.band:
        qs = qs.filter(band=filters.band)
    if filters.sanctions is not None:
        qs = qs.filter(sanctions=filters.sanctions)
    if filters.network:
        qs = qs.filter(_network_exists(filters.network))
    if filters.assignee == "me":
        qs = qs.filter(assignee=user)
    elif filters.assignee == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    elif filters.assignee:
        qs = qs.filter(assignee_id=int(filters.assignee))
    if filters.age is not None:
        qs = qs.filter(opened_at__lte=now - timedelta(hours=filters.age))
    return qs.order_by(*SORTS[filters.sort])


def queue_assignees() -> QuerySet[User]:
    """Staff who may appear in the assignee filter: everyone assigned an open case."""
    return User.objects.filter(aml_cases__status__in=OPEN_STATUSES).distinct().order_by("username")


def sla_hours() -> int:
    return int(getattr(settings, "NEXORA_CASE_SLA_HOURS", 48))


def case_age(case: Case, now: datetime) -> dict[str, Any]:
    """How long the case has been open, and whether that is over the SLA."""
    seconds = max(0, int((now - case.opened_at).total_seconds()))
    hours = seconds // 3600
    text = f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h {seconds % 3600 // 60}m"
    return {"hours": hours, "text": text, "over_sla": seconds > sla_hours() * 3600}


# --- the case page ----------------------------------------------------------------------------


def case_get(case_id: int) -> Case | None:
    return Case.objects.select_related("client__user", "assignee").filter(pk=case_id).first()


def case_held(case: Case) -> Decimal:
    return sum((h.remaining for h in case_holds(case) if h.status == HoldStatus.ACTIVE), Decimal("0.00"))


def case_assessments(case: Case) -> list[Assessment]:
    outcomes = RuleOutcome.objects.order_by("position", "id")
    rows = Assessment.objects.filter(case_item__case=case).select_related("ruleset")
    return list(rows.prefetch_related(Prefetch("outcomes", queryset=outcomes)).order_by("created_at", "id"))


def _client_section(case: Case) -> dict[str, Any]:
    client = case.client
    level = kyc_level_get(client.pk)
    limits = kyc_limits(ruleset_in_force_checked().params, level)
    balance: Balance = balance_get(client=client)
    return {"profile": client, "user": client.user, "kyc_level": level, "limits": limits, "balance": balance}


def _deposit_rows(deposits: list[Deposit], assessments: list[Assessment] | None) -> list[dict[str, Any]]:
    screening: dict[str, list[RuleOutcome]] = defaultdict(list)
    for assessment in assessments or []:
        for outcome in assessment.outcomes.all():
            if outcome.rule in LIST_RULES:
                screening[assessment.subject_ref].append(outcome)
    return [
        {
            "deposit": d,
            "asset_amount": d.network.display(d.amount),
            "tx_url": explorer_tx_url(d.network, d.tx_hash),
            "sender_url": explorer_address_url(d.network, d.sender),
            "screening": screening.get(f"deposit:{d.pk}", []),
        }
        for d in deposits
    ]


def _timeline(case: Case, events: list[CaseEvent]) -> tuple[list[dict[str, Any]], list[TopUp], list[Charge]]:
    client = case.client
    topups = list(TopUp.objects.filter(client=client).select_related("network").order_by("-created_at")[:50])
    charges = list(Charge.objects.filter(client=client).order_by("-created_at")[:50])
    rows: list[dict[str, Any]] = [
        {"at": t.created_at, "kind": "topup", "label": f"Top-up {t.amount} {t.currency} ({t.network.name})",
         "detail": f"{t.get_status_display()}; credited {t.credited_amount}", "amount": t.credited_amount}
        for t in topups
    ]  # fmt: skip
    rows += [
        {"at": c.created_at, "kind": "charge", "label": f"Charge {c.amount} {c.currency}",
         "detail": f"{c.get_status_display()}: {c.description}", "amount": c.amount}
        for c in charges
    ]  # fmt: skip
    rows += [
        {"at": e.created_at, "kind": "event", "label": e.action.replace("_", " "),
         "detail": e.comment, "amount": e.amount}
        for e in events
    ]  # fmt: skip
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows[:TIMELINE_LIMIT], topups, charges


def volume_chart(
    topups: list[TopUp], charges: list[Charge], *, today: date, days: int = CHART_DAYS
) -> dict[str, Any]:
    """Daily credited top-ups and charges of the last ``days`` days, as SVG bar geometry."""
    start = today - timedelta(days=days - 1)
    money_in: dict[date, Decimal] = defaultdict(Decimal)
    money_out: dict[date, Decimal] = defaultdict(Decimal)
    for t in topups:
        if t.credited_amount and timezone.localdate(t.created_at) >= start:
            money_in[timezone.localdate(t.created_at)] += t.credited_amount
    for c in charges:
        if timezone.localdate(c.created_at) >= start:
            money_out[timezone.localdate(c.created_at)] += c.amount
    top = max([*money_in.values(), *money_out.values(), Decimal("0")])
    width, height, bar = days * 10, 60, 4
    bars = []
    for i in range(days):
        day = start + timedelta(days=i)
        for offset, series, kind in ((1, money_in, "in"), (5, money_out, "out")):
            value = series.get(day, Decimal("0"))
            if value:
                h = max(1, int(value / top * height)) if top else 0
                bars.append({"x": i * 10 + offset, "y": height - h, "w": bar, "h": h, "kind": kind,
                             "title": f"{day:%Y-%m-%d} {kind}: {value}"})  # fmt: skip
    total_in, total_out = sum(money_in.values(), Decimal("0")), sum(money_out.values(), Decimal("0"))
    return {"width": width, "height": height, "bars": bars, "max": top, "start": start, "end": today,
            "total_in": total_in, "total_out": total_out}  # fmt: skip


def case_page(case: Case, *, with_assessments: bool, now: datetime | None = None) -> dict[str, Any]:
    """Everything the case page shows (see the module docstring)."""
    now = now or timezone.now()
    assessments = case_assessments(case) if with_assessments else None
    events = list(CaseEvent.objects.filter(case=case).select_related("actor").order_by("created_at", "id"))
    timeline, topups, charges = _timeline(case, events)
    holds = case_holds(case)
    return {
        "case": case,
        "age": case_age(case, now),
        "client": _client_section(case),
        "held": sum((h.remaining for h in holds if h.status == HoldStatus.ACTIVE), Decimal("0.00")),
        "holds": holds,
        "assessments": assessments or [],
        "deposits": _deposit_rows(case_deposits(case), assessments),
        "timeline": timeline,
        "chart": volume_chart(topups, charges, today=timezone.localdate(now)),
        "notes": [e for e in events if e.action == "note"],
        "events": events,
        "document_requests": list(requests_for_case(case)),
        "documents": list(documents_for_case(case)),
        "statements": list(statements_for_case(case)),
        "payouts": case_payouts(case),
    }
