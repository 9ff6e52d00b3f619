"""Reads of AML records for staff: assessments by subject or client, with their outcomes in order.

Assessments are immutable; these only read. ``assessments_for_subject("deposit:12")`` returns
every screening of that subject (the first at the event, later re-screens), newest first.
Nothing here is for clients: they only ever see the neutral "under review" (invariant 8).
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from aml.models import Assessment, RuleOutcome


def _with_outcomes(qs: QuerySet[Assessment]) -> QuerySet[Assessment]:
    outcomes = RuleOutcome.objects.order_by("position", "id")
    return qs.select_related("ruleset").prefetch_related(Prefetch("outcomes", queryset=outcomes))


# The ref's prefix names the subject type; filtering on both uses the (type, ref, time) index.
_REF_TYPES = {"deposit": "deposit", "charge": "charge", "payout": "payout", "account": "account_change"}


def assessments_for_subject(subject_ref: str) -> QuerySet[Assessment]:
    subject_type = _REF_TYPES.get(subject_ref.split(":", 1)[0], "")
    found = Assessment.objects.filter(subject_type=subject_type, subject_ref=subject_ref)
    return _with_outcomes(found.order_by("-created_at", "-id"))


def assessments_for_client(client_id: int) -> QuerySet[Assessment]:
    return _with_outcomes(Assessment.objects.filter(client_id=client_id).order_by("-created_at", "-id"))
