"""The engine end to end on PostgreSQL: a deposit (or charge, payout, account change) goes through the
real payments services, is assessed, explained, and held, frozen and put in a case as decided."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import aml.engine
from aml.cases.models import Case, CaseItem
from aml.cases.services import case_event_add
from aml.engine import evaluate, ruleset_in_force_checked
from aml.kyc import kyc_level_set
from aml.models import Assessment, RuleOutcome
from aml.rules import RULES
from aml.rules.base import DEPOSIT, Features, ListHit, Subject
from aml.sanctions.services.denylist import denylist_add
from aml.sanctions.services.imports import sanctions_import_run
from aml.sanctions.snapshot import holder
from aml.screeners import deposit_screener
from aml.selectors import assessments_for_subject
from aml.snooze import rule_snooze
from nexora.accounts.models import AccountStatus
from nexora.accounts.roles import COMPLIANCE_OFFICER
from nexora.common.errors import AccountFrozen
from nexora.common.models import StatusChange
from payments.hooks import AccountChanged, DepositConfirmed, PayoutRequested, Verdict, screen
from payments.models import Charge, Hold, TopUp
from payments.selectors.ledger import balance_get
from payments.services.charges import charge_create
from payments.services.topups import topup_create
from tests.aml.factories import SENDER, history_charge, history_deposit, pay
from tests.aml.sanctions_support import DATA_DIR, LAZARUS_ETH

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
USDT = 10**6
DEPOSIT_RULES = [r.name for r in RULES if DEPOSIT in r.subjects]


@pytest.fixture(autouse=True)
def fresh_lists():
    holder.reset()
    yield
    holder.reset()


@pytest.fixture
def net(make_network):
    return make_network("usdt-erc20", confirmations=1)


def topup(client, amount: str) -> TopUp:
    return topup_create(client=client, network_code="usdt-erc20", amount=amount).topup


def assessment_of(deposit) -> Assessment:
    (found,) = assessments_for_subject(f"deposit:{deposit.pk}")
    return found


def outcomes(assessment: Assessment) -> dict[str, tuple[str, int]]:
    return {o.rule: (o.outcome, o.points) for o in assessment.outcomes.all()}


def import_eth_list() -> None:
    sanctions_import_run(paths=[DATA_DIR / "sanctioned_addresses_ETH.txt"])


def test_a_clean_deposit_is_assessed_explained_and_credited(make_client, net):
    client = make_client()
    deposit = pay(topup(client, "50.00"), net, 50 * USDT)
    assert balance_get(client=client).available == Decimal("50.00")
    a = assessment_of(deposit)
    assert (a.decision, a.score, a.sanctions_hit, a.trigger, a.ruleset.version) == (
        "allow",
        0,
        False,
        "event",
        1,
    )
    assert (a.amount, a.currency, a.client_id) == (Decimal("50.00"), "USD", client.pk)
    assert (a.facts["counterparty"], a.facts["units"], a.facts["topup_id"]) == (
        SENDER,
        str(50 * USDT),
        deposit.topup_id,
    )
    assert [o.rule for o in a.outcomes.all()] == DEPOSIT_RULES  # every deposit rule, in catalogue order
    assert outcomes(a) == {
        "sanctions_list": ("insufficient_data", 0), "deny_list": ("no_hit", 0), "structuring": ("no_hit", 0),
        "velocity": ("insufficient_data", 0), "rapid_succession": ("insufficient_data", 0),
        "large_amount": ("insufficient_data", 0), "new_account_large": ("no_hit", 0),
        "dormant_reactivation": ("insufficient_data", 0), "many_sources": ("no_hit", 0),
        "shared_source": ("no_hit", 0), "near_identical": ("no_hit", 0), "amount_mismatch": ("no_hit", 0),
        "kyc_volume": ("no_hit", 0), "kyc_single_limit": ("no_hit", 0), "frozen_account": ("no_hit", 0),
    }  # fmt: skip
    assert a.outcomes.get(rule="sanctions_list").reason == (
        f"No sanctions list is loaded: the source address {SENDER} was not screened."
    )
    assert not Case.objects.exists() and not Hold.objects.exists()


def test_structuring_holds_the_deposit_and_opens_a_case(make_client, net):
    client = make_client()
    history_deposit(client, net, amount="950.00", at=timezone.now() - timedelta(days=2))
    t = topup(client, "960.00")
    deposit = pay(t, net, 960 * USDT)
    a = assessment_of(deposit)
    assert (a.decision, a.score) == ("review", 40)
    assert {rule: value for rule, value in outcomes(a).items() if value[0] == "hit"} == {
        "structuring": ("hit", 40)
    }
    assert a.summary == "review at 40 points (rule set v1); structuring +40"
    balance = balance_get(client=client)
    assert (balance.available, balance.held, balance.account_status) == (
        Decimal("0.00"),
        Decimal("960.00"),
        "active",
    )
    deposit.refresh_from_db()
    assert deposit.hold is not None and deposit.hold.remaining == Decimal("960.00")
    assert TopUp.objects.get(pk=t.pk).review == "on_hold"
    case = Case.objects.get(client=client)
    assert (case.status, case.band, case.sanctions, case.score) == ("open", "review", False, 40)
    assert CaseItem.objects.get(case=case).assessment_id == a.pk
    assert list(case.events.values_list("action", flat=True)) == ["opened", "assessment_added"]


def test_a_freeze_score_holds_freezes_the_account_and_charges_are_refused(make_client, net):
    client, other = make_client(), make_client()
    t = topup(client, "960.00")  # asked for while the 30-day volume was still low
    now = timezone.now()
    history_deposit(client, net, amount="950.00", at=now - timedelta(days=3))
    history_deposit(client, net, amount="940.00", at=now - timedelta(days=2))
    history_deposit(
        other, net, amount="20.00", at=now - timedelta(days=1)
    )  # the same source paid another client
    deposit = pay(t, net, 960 * USDT)
    a = assessment_of(deposit)
    hits = {rule: value for rule, value in outcomes(a).items() if value[0] == "hit"}
    assert hits == {"structuring": ("hit", 40), "kyc_volume": ("hit", 40), "shared_source": ("hit", 25)}
    assert (a.decision, a.score, a.sanctions_hit) == ("freeze", 105, False)
    client.refresh_from_db()
    assert client.status == AccountStatus.FROZEN
    change = StatusChange.objects.get(entity="account", entity_id=str(client.pk))
    assert (change.from_status, change.to_status) == ("active", "frozen")
    assert change.reason.startswith(f"AML assessment #{a.pk}: freeze at 105 points")
    assert Case.objects.get(client=client).band == "freeze"
    assert balance_get(client=client).held == Decimal("960.00")
    charges_before = Charge.objects.count()
    with pytest.raises(AccountFrozen):
        charge_create(client_id=client.pk, amount=Decimal("1.00"), currency="USD", description="VPS",
                      idempotency_key="after-freeze")  # fmt: skip
    assert Charge.objects.count() == charges_before


def test_a_sanctions_hit_bypasses_the_score(make_client, net):
    import_eth_list()
    client = make_client()
    deposit = pay(topup(client, "20.00"), net, 20 * USDT, sender=LAZARUS_ETH)
    a = assessment_of(deposit)
    assert (a.decision, a.sanctions_hit) == ("freeze", True)
    sanctions = a.outcomes.get(rule="sanctions_list")
    assert (sanctions.outcome, sanctions.points) == ("hit", 100)
    assert sanctions.reason == (
        f"The source address {LAZARUS_ETH} is on the sanctions list: "
        "OFAC SDN: ETH address (source ofac_asset_list)."
    )
    case = Case.objects.get(client=client)
    assert (case.band, case.sanctions) == ("freeze", True)  # the dashboard forbids refund-to-source on it
    client.refresh_from_db()
    assert client.status == "frozen" and balance_get(client=client).held == Decimal("20.00")
    # Whatever the points and bands say, a sanctions hit freezes:
    compiled = ruleset_in_force_checked()
    soft = replace(
        compiled.params, rules={**compiled.params.rules, "sanctions_list": {"enabled": True, "points": 0}}
    )
    facts = Subject(type=DEPOSIT, ref="deposit:0", client_id=client.pk, at=timezone.now(), currency="USD",
                    amount=Decimal("1.00"), counterparty=LAZARUS_ETH)  # fmt: skip
    listed = Features(as_of=facts.at, sanctions_hits=(ListHit("OFAC SDN", "x"),), deny_hits=())
    result = evaluate(subject=facts, features=listed, ruleset=replace(compiled, params=soft))
    assert (result.score, result.decision, result.sanctions_hit) == (0, "freeze", True)


def test_the_operators_deny_list_freezes_by_score(make_client, make_staff, net):
    denied = "0x3333333333333333333333333333333333333333"
    denylist_add(address=denied, reason="chargeback fraud ring", actor=make_staff(COMPLIANCE_OFFICER))
    client = make_client()
    a = assessment_of(pay(topup(client, "20.00"), net, 20 * USDT, sender=denied))
    assert (a.decision, a.score, a.sanctions_hit) == ("freeze", 100, False)
    assert a.outcomes.get(rule="deny_list").reason.startswith(
        f"The source address {denied} is on the operator's deny list: "
        "deny list: chargeback fraud ring (entry #"
    )
    assert Case.objects.get(client=client).sanctions is False


def test_a_rule_in_error_never_counts_as_clean(make_client, net, monkeypatch):
    def broken(*args):
        raise ZeroDivisionError("boom")

    rules = tuple(replace(r, evaluate=broken) if r.name == "velocity" else r for r in RULES)
    monkeypatch.setattr(aml.engine, "RULES", rules)
    client = make_client()
    deposit = pay(topup(client, "50.00"), net, 50 * USDT)
    a = assessment_of(deposit)
    velocity = a.outcomes.get(rule="velocity")
    assert (velocity.outcome, velocity.points, velocity.reason) == (
        "error",
        0,
        "The rule failed: ZeroDivisionError: boom",
    )
    assert (a.decision, a.score) == ("review", 0)
    assert a.summary == "review at 0 points (rule set v1); errors: velocity"
    assert balance_get(client=client).held == Decimal("50.00")
    assert Case.objects.filter(client=client, band="review").exists()


def test_when_the_engine_itself_fails_the_money_is_held_and_a_case_says_why(make_client, net, monkeypatch):
    def down(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(aml.engine, "history_features", down)
    client = make_client()
    deposit = pay(topup(client, "50.00"), net, 50 * USDT)
    a = assessment_of(deposit)
    assert (a.decision, a.summary) == ("review", "review: engine error (RuntimeError)")
    assert [(o.rule, o.outcome, o.reason) for o in a.outcomes.all()] == [
        ("engine", "error", "The engine could not score this subject: RuntimeError: database on fire")
    ]
    assert balance_get(client=client).held == Decimal("50.00")
    assert Case.objects.get(client=client).items.get().assessment_id == a.pk


def test_a_snoozed_rule_still_runs_and_is_stored_with_no_points(make_client, make_staff, net):
    officer = make_staff(COMPLIANCE_OFFICER)
    client = make_client()
    kyc_level_set(client=client, level="basic", actor=officer, reason="passport checked")
    first = assessment_of(
        pay(topup(client, "9000.00"), net, 10_500 * USDT)
    )  # overpaid above the 10,000 limit
    assert (first.decision, first.score) == ("review", 75)  # single limit 40, new account 25, overpaid 10
    case = Case.objects.get(client=client)
    case_event_add(case=case, action="note", actor=officer, comment="the client pays from an exchange")
    rule_snooze(case=case, rule="kyc_single_limit", until=timezone.now() + timedelta(days=30), actor=officer,
                reason="exchange withdrawals come in round amounts above the quote")  # fmt: skip
    second = assessment_of(pay(topup(client, "9000.00"), net, 10_500 * USDT))
    single = second.outcomes.get(rule="kyc_single_limit")
    assert (single.outcome, single.snoozed, single.points) == ("hit", True, 0)
    assert (
        not RuleOutcome.objects.filter(assessment=second, snoozed=True)
        .exclude(rule="kyc_single_limit")
        .exists()
    )
    assert (second.decision, second.score) == ("allow", 25)  # amount_mismatch 10 + rapid_succession 15


def test_a_charge_far_above_usual_spending_after_an_account_change_is_held_back(make_client):
    client = make_client(balance="1000.00")
    for days in (10, 11, 12):
        history_charge(client, amount="20.00", at=timezone.now() - timedelta(days=days))
    change = AccountChanged(client_id=client.pk, field="email", new_value="new@example.com")
    assert screen("account_changed", change) == Verdict.ALLOW
    result = charge_create(client_id=client.pk, amount=Decimal("250.00"), currency="USD",
                           description="dedicated server", idempotency_key="big-one")  # fmt: skip
    assert result.charge.status == "pending_review"
    assert result.charge.hold is not None and result.charge.hold.amount == Decimal("250.00")
    assert balance_get(client=client).available == Decimal("690.00")  # 1000 - 3 x 20 - 250 held
    (a,) = assessments_for_subject("charge:big-one")
    assert (a.decision, a.score) == ("review", 50)
    assert outcomes(a) == {"unusual_charge": ("hit", 25), "recent_account_change": ("hit", 25)}
    assert a.outcomes.get(rule="recent_account_change").reason.startswith("The account's e-mail changed ")
    assert Case.objects.get(client=client).items.get().assessment_id == a.pk


def test_account_changes_a_sanctioned_payout_address_is_refused_and_freezes(make_client):
    import_eth_list()
    client = make_client()
    change = AccountChanged(client_id=client.pk, field="payout_address", new_value=LAZARUS_ETH)
    assert screen("account_changed", change) == Verdict.REFUSE
    (a,) = assessments_for_subject(f"account:{client.pk}:payout_address")
    assert (a.decision, a.sanctions_hit, a.facts["detail"]) == ("freeze", True, LAZARUS_ETH)
    client.refresh_from_db()
    assert client.status == "frozen" and Case.objects.get(client=client).sanctions


def test_account_changes_a_burst_is_let_through_for_review(make_client):
    client = make_client()
    verdicts = [
        screen("account_changed", AccountChanged(client_id=client.pk, field=field, new_value=value))
        for field, value in [("email", "a@example.com"), ("telegram", "12345"), ("email", "b@example.com")]
    ]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.REVIEW]
    third = assessments_for_subject(f"account:{client.pk}:email")[0]
    assert (third.decision, third.score, outcomes(third)) == (
        "review",
        40,
        {"account_change_burst": ("hit", 40)},
    )
    assert Case.objects.get(client=client).band == "review"


def test_payout_requests_rapid_in_out_and_a_sanctioned_destination(make_client, net):
    import_eth_list()
    client = make_client()
    history_deposit(client, net, amount="500.00", at=timezone.now() - timedelta(hours=20))
    request = PayoutRequested(client_id=client.pk, amount=Decimal("480.00"), currency="USD",
                              destination="0x4444444444444444444444444444444444444444", network="usdt-erc20",
                              reason="refund to source")  # fmt: skip
    assert screen("payout_requested", request) == Verdict.REVIEW
    (a,) = assessments_for_subject(f"payout:{client.pk}:usdt-erc20:{request.destination}")
    assert (a.decision, a.score) == ("review", 40)
    assert outcomes(a)["rapid_in_out"] == ("hit", 40)
    assert screen("payout_requested", replace(request, destination=LAZARUS_ETH)) == Verdict.REFUSE


def test_a_deposit_costs_a_bounded_number_of_queries(make_client, net):
    """One (prepared) history statement, the assessment and its outcomes (one bulk insert); the lists
    are matched in memory."""
    client = make_client()
    t = topup(client, "50.00")
    fact = DepositConfirmed(deposit_id=10**9, client_id=client.pk, topup_id=t.pk, network="usdt-erc20",
                            tx_hash="0x1", sender=SENDER, units=50 * USDT, amount=Decimal("50.00"),
                            currency="USD", late=False)  # fmt: skip
    deposit_screener(replace(fact, deposit_id=10**9 + 1))  # per-process and per-connection set-up
    with CaptureQueriesContext(connection) as queries:
        assert deposit_screener(fact) == Verdict.ALLOW
    statements = [q["sql"].split()[0] for q in queries]
    assert statements == ["SAVEPOINT", "EXECUTE", "EXECUTE", "RELEASE"], statements  # history; both inserts
