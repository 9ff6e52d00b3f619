"""Snooze: staff silence one rule for one client until a date, from a case they reviewed.

A false positive that would fire again on every top-up (a client who always pays from an
exchange's shared hot wallet, say) can be snoozed: ``rule_snooze(case=, rule=, until=, actor=,
reason=)``. The rule keeps running and its outcome is still stored, marked ``snoozed`` and worth
0 points, so the explanation stays complete and a reviewer can see what was silenced and by whom.

Bounds: at most 180 days ahead (``MAX_SNOOZE``), only from a case that a human already worked on
(it has an event with a staff actor), never the sanctions or deny-list rules, always with a
reason. The snooze row and a ``rule_snoozed`` case event are written in one transaction; both are
append-only. A date (not a time) means until the end of that day, UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from aml.cases.models import Case, CaseEvent
from aml.cases.services import case_event_add
from aml.models import RuleSnooze
from aml.rules import RULES_BY_NAME
from nexora.common.errors import Conflict, PermissionDenied, ValidationFailed

MAX_SNOOZE = timedelta(days=180)


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [{"code": code, "message": message}]})


def _until(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)


def _check(rule: str, until: datetime, reason: str) -> None:
    if rule not in RULES_BY_NAME:
        raise _invalid("rule", "unknown_rule", "No rule has this name.")
    if not RULES_BY_NAME[rule].snoozable:
        raise _invalid("rule", "rule_not_snoozable", "This rule cannot be snoozed; change the list instead.")
    now = timezone.now()
    if not now < until <= now + MAX_SNOOZE:
        raise _invalid("until", "snooze_out_of_range", "Snooze until a date in the next 180 days.")
    if not reason.strip():
        raise _invalid("reason", "reason_required", "Say why the rule is snoozed.")


def rule_snooze_validate(*, rule: str, until: datetime | date, reason: str) -> datetime:
    """The checks of ``rule_snooze`` without writing: for a snooze that a later approval will make."""
    end = _until(until)
    _check(rule, end, reason)
    return end


@transaction.atomic
def rule_snooze(*, case: Case, rule: str, until: datetime | date, actor: Any, reason: str) -> RuleSnooze:
    """Silence ``rule`` for the case's client until ``until``; audited on the case."""
    if not (getattr(actor, "is_staff", False) and actor.has_perm("aml.snooze_rule")):
        raise PermissionDenied("Your role does not allow snoozing rules.")
    end = _until(until)
    _check(rule, end, reason)
    case = Case.objects.select_for_update().get(pk=case.pk)
    if not CaseEvent.objects.filter(case=case, actor__isnull=False).exists():
        raise Conflict("Review the case before snoozing one of its rules.", code="case_not_reviewed")
    snooze = RuleSnooze.objects.create(
        client_id=case.client_id, rule=rule, until=end, case=case, created_by=actor, reason=reason.strip()
    )
    case_event_add(
        case=case, action="rule_snoozed", actor=actor, comment=reason.strip(),
        after={"rule": rule, "until": end.isoformat(), "snooze": snooze.pk},
    )  # fmt: skip
    return snooze
