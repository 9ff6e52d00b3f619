"""The case core: one open case per client, joined by later assessments, audited, append-only."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from aml.cases.models import Case, CaseEvent, CaseItem
from aml.cases.services import case_open_or_join, case_transition
from aml.models import Assessment, RuleOutcome, RuleSet
from aml.rulesets import ruleset_seed_default
from nexora.common.errors import InvalidTransition, ValidationFailed
from nexora.common.models import AppendOnlyError

pytestmark = pytest.mark.django_db


@pytest.fixture
def ruleset() -> RuleSet:
    ruleset_seed_default()  # migration aml.0003 seeds version 1; a flushed database gets it again
    return RuleSet.objects.get(status="published")


def assess(client, ruleset, *, decision="review", score=50, sanctions=False, ref="deposit:1") -> Assessment:
    return Assessment.objects.create(
        subject_type="deposit", subject_ref=ref, client=client, ruleset=ruleset, score=score,
        decision=decision, sanctions_hit=sanctions, amount=Decimal("10.00"), currency="USD",
        summary=f"score {score}",
    )  # fmt: skip


def test_first_assessment_opens_a_case_and_later_ones_join_it(make_client, ruleset):
    client = make_client()
    first = case_open_or_join(client=client, assessment=assess(client, ruleset, ref="deposit:1"))
    second = case_open_or_join(
        client=client,
        assessment=assess(client, ruleset, decision="freeze", score=90, sanctions=True, ref="deposit:2"),
    )
    assert first.pk == second.pk and Case.objects.count() == 1
    case = Case.objects.get()
    assert (case.status, case.band, case.sanctions, case.score) == ("open", "freeze", True, 90)
    assert CaseItem.objects.filter(case=case).count() == 2
    actions = list(CaseEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions == ["opened", "assessment_added", "escalated_by_assessment", "assessment_added"]


def test_band_never_softens_while_open(make_client, ruleset):
    client = make_client()
    case_open_or_join(
        client=client, assessment=assess(client, ruleset, decision="freeze", score=90, ref="d:1")
    )
    case_open_or_join(
        client=client, assessment=assess(client, ruleset, decision="review", score=40, ref="d:2")
    )
    case = Case.objects.get()
    assert (case.band, case.score) == ("freeze", 90)
    assert not CaseEvent.objects.filter(action="escalated_by_assessment").exists()


def test_closed_case_is_final_and_new_money_opens_a_new_case(make_client, ruleset):
    client = make_client()
    case = case_open_or_join(client=client, assessment=assess(client, ruleset, ref="d:1"))
    case_transition(case, to="closed", reason="released after review", resolution="released")
    with pytest.raises(InvalidTransition):
        case_transition(case, to="open")
    again = case_open_or_join(client=client, assessment=assess(client, ruleset, ref="d:2"))
    assert again.pk != case.pk
    assert list(Case.objects.order_by("pk").values_list("status", "resolution")) == [
        ("closed", "released"),
        ("open", ""),
    ]


def test_allowed_assessment_opens_nothing(make_client, ruleset):
    client = make_client()
    with pytest.raises(ValidationFailed) as exc:
        case_open_or_join(client=client, assessment=assess(client, ruleset, decision="allow", score=0))
    assert exc.value.code == "nothing_to_review"
    assert Case.objects.count() == 0 and CaseEvent.objects.count() == 0


def test_audit_rows_cannot_be_changed_in_the_model_layer(make_client, ruleset):
    client = make_client()
    case = case_open_or_join(client=client, assessment=assess(client, ruleset))
    event = CaseEvent.objects.filter(case=case).first()
    assert event is not None
    event.comment = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        Assessment.objects.all().delete()


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["aml_assessment", "aml_ruleoutcome", "cases_caseevent", "cases_caseitem"])
def test_postgres_refuses_update_and_delete(make_client, ruleset, table):
    client = make_client()
    assessment = assess(client, ruleset)
    RuleOutcome.objects.create(
        assessment=assessment, rule="velocity", outcome="hit", points=10, reason="5 in 24 h"
    )
    case_open_or_join(client=client, assessment=assessment)
    for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):  # noqa: S608 - fixed table names
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_assessments_make_one_case(make_client, ruleset):
    client = make_client()
    assessments = [assess(client, ruleset, ref=f"deposit:{i}") for i in range(6)]
    barrier, errors = threading.Barrier(len(assessments)), []

    def work(assessment: Assessment) -> None:
        try:
            barrier.wait()
            case_open_or_join(client=client, assessment=assessment)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(a,)) for a in assessments]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Case.objects.count() == 1
    assert CaseItem.objects.count() == 6
    assert CaseEvent.objects.filter(action="opened").count() == 1
