"""Backtest: re-score the recent subjects with a draft, count and list what would change, write nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aml.backtest import backtest_run
from aml.cases.models import Case, CaseEvent
from aml.models import Assessment, RuleOutcome, RuleSet
from aml.rulesets import ruleset_draft_create, ruleset_draft_update
from aml.sanctions.snapshot import holder
from nexora.accounts.roles import COMPLIANCE_OFFICER
from nexora.common.errors import ValidationFailed
from payments.services.topups import topup_create
from tests.aml.factories import history_deposit, pay

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
USDT = 10**6


@pytest.fixture
def screened(make_client, make_network):
    """Four screened deposits: clean (0), structuring (40, review), and two in a row (0, then 15)."""
    holder.reset()
    network = make_network("usdt-erc20", confirmations=1)
    clean, structuring, quick = make_client(), make_client(), make_client()
    senders = {c.pk: f"0x{c.pk:040x}" for c in (clean, structuring, quick)}  # no source shared by two clients
    history_deposit(structuring, network, amount="950.00", at=timezone.now() - timedelta(days=2),
                    sender=senders[structuring.pk])  # fmt: skip
    for client, amount in [(clean, 50), (structuring, 960), (quick, 20), (quick, 20)]:
        topup = topup_create(client=client, network_code="usdt-erc20", amount=f"{amount}.00").topup
        pay(topup, network, amount * USDT, sender=senders[client.pk])
    decisions = sorted(Assessment.objects.values_list("decision", "score"))
    assert decisions == [("allow", 0), ("allow", 0), ("allow", 15), ("review", 40)]
    return {"structuring": structuring, "quick": quick}


@pytest.fixture
def draft(make_staff):
    officer = make_staff(COMPLIANCE_OFFICER)
    draft = ruleset_draft_create(actor=officer)
    change = {"bands": {"review": 15}, "rules": {"structuring": {"points": 0}}}
    return ruleset_draft_update(ruleset=draft, actor=officer, params=change)


def written() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Assessment, RuleOutcome, Case, CaseEvent))


def test_the_published_version_reproduces_its_own_decisions(screened):
    report = backtest_run(draft=RuleSet.objects.get(status="published"), days=30)
    assert (report.subjects, report.changed, report.changes) == (4, 0, ())


def test_a_draft_reports_which_decisions_would_change_and_writes_nothing(screened, draft):
    before = written()
    report = backtest_run(draft=draft, days=30)
    assert written() == before
    assert (report.draft_version, report.days, report.subjects, report.changed) == (2, 30, 4, 2)
    assert (report.stricter, report.softer, report.moves) == (1, 1, {"review->allow": 1, "allow->review": 1})
    by_client = {change.client_id: change for change in report.changes}
    softer, stricter = by_client[screened["structuring"].pk], by_client[screened["quick"].pk]
    assert (softer.before, softer.score_before, softer.after, softer.score_after) == (
        "review",
        40,
        "allow",
        0,
    )
    assert (stricter.before, stricter.score_before, stricter.after, stricter.score_after) == (
        "allow",
        15,
        "review",
        15,
    )
    assert stricter.summary_after == "review at 15 points (rule set v2); rapid_succession +15"


def test_the_command_prints_the_report(screened, draft):
    out = StringIO()
    call_command("aml_backtest", "--draft", str(draft.pk), "--days", "30", stdout=out)
    text = out.getvalue()
    assert "4 subjects re-scored; 2 decisions would change (1 stricter, 1 softer)" in text
    assert "  allow->review: 1\n  review->allow: 1" in text
    out = StringIO()
    call_command("aml_backtest", "--draft", str(draft.pk), "--days", "7", "--json", stdout=out)
    assert json.loads(out.getvalue())["changed"] == 2


def test_bad_arguments_are_refused(draft):
    with pytest.raises(ValidationFailed) as exc:
        backtest_run(draft=draft, days=0)
    assert exc.value.code == "invalid_days"
    with pytest.raises(CommandError, match="No rule set with id"):
        call_command("aml_backtest", "--draft", "999999", "--days", "30")
