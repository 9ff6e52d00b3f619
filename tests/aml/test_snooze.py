"""Snooze: one rule, one client, until a date at most 180 days ahead, from a reviewed case, audited."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from aml.cases.models import CaseEvent
from aml.cases.services import case_event_add, case_open_or_join
from aml.engine import ruleset_in_force_checked
from aml.models import Assessment, RuleSet, RuleSnooze
from aml.snooze import rule_snooze
from nexora.accounts.roles import COMPLIANCE_OFFICER, SUPPORT
from nexora.common.errors import Conflict, PermissionDenied, ValidationFailed
from nexora.common.models import AppendOnlyError

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(make_client):
    client = make_client()
    ruleset = RuleSet.objects.get(pk=ruleset_in_force_checked().id)
    assessment = Assessment.objects.create(
        subject_type="deposit", subject_ref="deposit:1", client=client, ruleset=ruleset,
        score=50, decision="review", amount=Decimal("10.00"), currency="USD",
    )  # fmt: skip
    return case_open_or_join(client=client, assessment=assessment)


@pytest.fixture
def officer(make_staff):
    return make_staff(COMPLIANCE_OFFICER)


def reviewed(case, officer):
    case_event_add(case=case, action="note", actor=officer, comment="looked at the deposits")
    return case


def test_a_snooze_is_bounded_audited_and_append_only(case, officer):
    until = timezone.now() + timedelta(days=180)
    snooze = rule_snooze(case=reviewed(case, officer), rule="shared_source", until=until, actor=officer,
                         reason=" exchange hot wallet ")  # fmt: skip
    assert (snooze.client_id, snooze.rule, snooze.until, snooze.created_by, snooze.reason) == (
        case.client_id,
        "shared_source",
        until,
        officer,
        "exchange hot wallet",
    )
    event = CaseEvent.objects.get(case=case, action="rule_snoozed")
    assert (event.actor, event.comment, event.after) == (officer, "exchange hot wallet", {
        "rule": "shared_source", "until": until.isoformat(), "snooze": snooze.pk,
    })  # fmt: skip
    with pytest.raises(AppendOnlyError):
        snooze.save()


def test_a_date_means_until_the_end_of_that_day(case, officer):
    day = (timezone.now() + timedelta(days=10)).date()
    snooze = rule_snooze(
        case=reviewed(case, officer), rule="velocity", until=day, actor=officer, reason="payday"
    )
    assert snooze.until.date() == day + timedelta(days=1) and snooze.until.hour == 0


@pytest.mark.parametrize(
    ("rule", "until", "reason", "field", "code"),
    [
        ("velocity", timedelta(days=181), "x", "until", "snooze_out_of_range"),
        ("velocity", timedelta(days=-1), "x", "until", "snooze_out_of_range"),
        ("sanctions_list", timedelta(days=5), "x", "rule", "rule_not_snoozable"),
        ("deny_list", timedelta(days=5), "x", "rule", "rule_not_snoozable"),
        ("astrology", timedelta(days=5), "x", "rule", "unknown_rule"),
        ("velocity", timedelta(days=5), " ", "reason", "reason_required"),
    ],
)
def test_bad_snoozes_are_refused_and_write_nothing(case, officer, rule, until, reason, field, code):
    reviewed(case, officer)
    events = CaseEvent.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        rule_snooze(case=case, rule=rule, until=timezone.now() + until, actor=officer, reason=reason)
    assert (exc.value.code, list(exc.value.fields)) == (code, [field])
    assert not RuleSnooze.objects.exists() and CaseEvent.objects.count() == events


def test_only_from_a_reviewed_case_and_only_by_compliance(case, officer, make_staff):
    with pytest.raises(Conflict) as exc:  # the engine opened it; no human has looked yet
        rule_snooze(
            case=case, rule="velocity", until=date.today() + timedelta(days=3), actor=officer, reason="x"
        )
    assert exc.value.code == "case_not_reviewed"
    with pytest.raises(PermissionDenied):
        rule_snooze(case=reviewed(case, officer), rule="velocity", until=date.today() + timedelta(days=3),
                    actor=make_staff(SUPPORT), reason="x")  # fmt: skip
    assert not RuleSnooze.objects.exists()
