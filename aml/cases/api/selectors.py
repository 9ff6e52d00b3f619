"""Reads behind the staff case API: the filtered case list, its held amounts in bulk, one case.

``case_held_amounts(cases)`` answers what ``aml.cases.money.case_holds`` would, summed over the
active holds, for a whole page of cases at once: the same subjects (deposits, the holds of
re-screened deposits, charges, payouts) and the same walk along failed refunds, but one query per
step for every case on the page instead of one per case (a list of 50 cases costs the same handful
of queries as a list of one). A test holds the two in agreement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from aml.cases.models import Case, CaseEvent
from aml.cases.money import MAX_REFUND_ROUNDS
from aml.models import Assessment, RuleOutcome
from nexora.common.errors import NotFound
from payments.models import Charge, Deposit, Hold, HoldStatus, PayoutRequest

ZERO = Decimal("0.00")
ORDERINGS = {
    "opened_at": ("opened_at", "id"),
    "-opened_at": ("-opened_at", "-id"),
    "-score": ("-score", "opened_at", "id"),
}


@dataclass(frozen=True)
class CaseFilter:
    """Parsed query of the case list; ``None`` means "any". ``assignee`` 0 means unassigned."""

    statuses: tuple[str, ...] = ()
    band: str | None = None
    sanctions: bool | None = None
    assignee: int | None = None
    client: int | None = None
    ordering: str = "opened_at"


def cases_filtered(query: CaseFilter) -> QuerySet[Case]:
    rows = Case.objects.select_related("client", "assignee")
    if query.statuses:
        rows = rows.filter(status__in=query.statuses)
    if query.band is not None:
        rows = rows.filter(band=query.band)
    if query.sanctions is not None:
        rows = rows.filter(sanctions=query.sanctions)
    if query.assignee == 0:
        rows = rows.filter(assignee__isnull=True)
    elif query.assignee is not None:
        rows = rows.filter(assignee_id=query.assignee)
    if query.client is not None:
        rows = rows.filter(client_id=query.client)
    return rows.order_by(*ORDERINGS[query.ordering])


def case_for_staff(pk: int) -> Case:
    case = Case.objects.select_related("client__user", "assignee").filter(pk=pk).first()
    if case is None:
        raise NotFound("No such case.", code="case_not_found")
    return case


def case_assessments(case: Case) -> QuerySet[Assessment]:
    outcomes = Prefetch("outcomes", queryset=RuleOutcome.objects.order_by("position", "id"))
    return (
        Assessment.objects.filter(case_item__case=case)
        .select_related("ruleset")
        .prefetch_related(outcomes)
        .order_by("created_at", "id")
    )


def case_events(case: Case) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(case=case).select_related("actor").order_by("created_at", "id")


# --- held amounts of many cases ------------------------------------------------------------------


def _subjects(case_ids: Sequence[int]) -> dict[str, list[tuple[int, str]]]:
    """``{kind: [(case id, subject id)]}`` from the assessments of the cases."""
    rows = Assessment.objects.filter(case_item__case_id__in=case_ids).values_list(
        "case_item__case_id", "subject_ref"
    )
    by_kind: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for case_id, ref in rows:
        kind, _, subject = ref.partition(":")
        by_kind[kind].append((case_id, subject))
    return by_kind


def _deposit_holds(pairs: list[tuple[int, str]], found: dict[int, set[int]]) -> None:
    ids = {int(s) for _, s in pairs if s.isdigit()}
    holds = dict(Deposit.objects.filter(pk__in=ids, hold__isnull=False).values_list("pk", "hold_id"))
    rescreened = dict(
        Hold.objects.filter(reference__in=[f"deposit:{i}" for i in ids]).values_list("pk", "reference")
    )
    by_ref: dict[str, list[int]] = defaultdict(list)
    for hold_id, ref in rescreened.items():
        by_ref[ref].append(hold_id)
    for case_id, subject in pairs:
        if subject.isdigit():
            found[case_id].update(h for h in [holds.get(int(subject))] if h)
            found[case_id].update(by_ref.get(f"deposit:{subject}", []))


def _charge_holds(pairs: list[tuple[int, str]], found: dict[int, set[int]]) -> None:
    rows = Charge.objects.filter(idempotency_key__in={s for _, s in pairs}, hold__isnull=False)
    holds: dict[str, set[int]] = defaultdict(set)
    for key, hold_id in rows.values_list("idempotency_key", "hold_id"):
        holds[key].add(hold_id)
    for case_id, key in pairs:
        found[case_id] |= holds.get(key, set())


def _payout_holds(pairs: list[tuple[int, str]], found: dict[int, set[int]]) -> None:
    ids = {int(s) for _, s in pairs if s.isdigit()}
    holds = dict(PayoutRequest.objects.filter(pk__in=ids).values_list("pk", "hold_id"))
    for case_id, subject in pairs:
        if subject.isdigit() and int(subject) in holds:
            found[case_id].add(holds[int(subject)])


def _follow_refunds(found: dict[int, set[int]]) -> None:
    """Add the holds failed refunds returned money to, round by round (as ``case_hold_ids``)."""
    frontier = {case_id: set(ids) for case_id, ids in found.items()}
    for _ in range(MAX_REFUND_ROUNDS):
        hold_ids = set().union(*frontier.values()) if frontier else set()
        returned: dict[int, set[int]] = defaultdict(set)
        rows = PayoutRequest.objects.filter(hold_id__in=hold_ids, return_hold__isnull=False)
        for hold_id, return_id in rows.values_list("hold_id", "return_hold_id"):
            returned[hold_id].add(return_id)
        frontier = {}
        for case_id, ids in found.items():
            new = set().union(*(returned.get(h, set()) for h in ids)) - ids
            if new:
                frontier[case_id] = new
                ids |= new
        if not frontier:
            return


def case_held_amounts(cases: Iterable[Case]) -> dict[int, Decimal]:
    """``{case id: money still held on the case's holds}`` for every case given (0.00 if none)."""
    case_ids = [case.pk for case in cases]
    found: dict[int, set[int]] = {case_id: set() for case_id in case_ids}
    if not case_ids:
        return {}
    subjects = _subjects(case_ids)
    _deposit_holds(subjects.get("deposit", []), found)
    _charge_holds(subjects.get("charge", []), found)
    _payout_holds(subjects.get("payout", []), found)
    _follow_refunds(found)
    remaining = dict(
        Hold.objects.filter(pk__in=set().union(*found.values()), status=HoldStatus.ACTIVE).values_list(
            "pk", "remaining"
        )
    )
    return {case_id: sum((remaining.get(h, ZERO) for h in ids), ZERO) for case_id, ids in found.items()}
