"""The retention purge on PostgreSQL: exact counts per category, dry runs that change nothing, the
person anonymised only after their financial records expire, and ledger and AML records that
outlive their period whatever else happens."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from aml.models import RuleOutcome
from nexora.accounts.models import ClientProfile, SecurityEvent
from nexora.accounts.services import account_terminate
from nexora.privacy import registry
from nexora.privacy.registry import Action, OnErasure, category_register
from nexora.privacy.retention import months_after, months_before, retention_purge
from nexora.privacy.tasks import retention_purge_task
from payments.models import Charge, Deposit, LedgerEntry, TopUp, TxLookup

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def by_name(outcomes):
    return {o.name: (o.expired, o.acted, o.waiting, o.within) for o in outcomes}


def later(months: int) -> datetime:
    return months_after(timezone.now(), months)


def snapshot() -> dict[str, int]:
    return {
        "security": SecurityEvent.objects.count(),
        "ledger": LedgerEntry.objects.count(),
        "topups": TopUp.objects.count(),
        "deposits": Deposit.objects.count(),
        "charges": Charge.objects.count(),
        "lookups": TxLookup.objects.count(),
        "anonymised": ClientProfile.objects.filter(anonymised_at__isnull=False).count(),
    }


def test_months_arithmetic_clamps_the_day():
    assert months_before(datetime(2026, 3, 31, 12, tzinfo=UTC), 1) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert months_before(datetime(2024, 3, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(2024, 12, 15, tzinfo=UTC)
    assert months_after(datetime(2026, 1, 31, tzinfo=UTC), 60) == datetime(2031, 1, 31, tzinfo=UTC)


def test_dry_run_reports_exact_counts_and_changes_nothing(person):
    before = snapshot()
    outcomes = by_name(retention_purge(dry_run=True))
    rule_outcomes = RuleOutcome.objects.filter(assessment__client=person.client).count()
    assert rule_outcomes > 0  # the engine explained both screenings, rule by rule
    assert outcomes == {
        "profile": (0, 0, 0, 1),
        "security_log": (1, 0, 0, 2),  # the 400-day-old login
        "topups": (0, 0, 0, 1),
        "deposits": (0, 0, 0, 1),
        "charges": (0, 0, 0, 1),
        "ledger": (0, 0, 0, 6),  # three postings, two entries each
        "holds": (0, 0, 0, 0),
        "tx_lookups": (0, 0, 0, 1),
        "erasure_requests": (0, 0, 0, 0),
        # Registered by the AML, notification and refund parts: the engine screened the deposit and
        # the charge (two assessments, all inside their period); no refund, case or notification.
        "payouts": (0, 0, 0, 0),
        "refund_addresses": (0, 0, 0, 0),
        "aml.assessments": (0, 0, 0, 2),
        "aml.rule_outcomes": (0, 0, 0, rule_outcomes),
        "aml.documents": (0, 0, 0, 0),
        "aml.statements": (0, 0, 0, 0),
        "aml.document_requests": (0, 0, 0, 0),
        "aml.case_events": (0, 0, 0, 0),
        "aml.cases": (0, 0, 0, 0),
        "notifications.deliveries": (0, 0, 0, 0),
        "notifications.inbox": (0, 0, 0, 0),
        "notifications.telegram_codes": (0, 0, 0, 0),
    }
    assert snapshot() == before


def test_the_purge_deletes_expired_security_events_only(person):
    outcomes = by_name(retention_purge())
    assert outcomes["security_log"] == (1, 1, 0, 2)
    assert SecurityEvent.objects.count() == 2
    assert by_name(retention_purge())["security_log"] == (0, 0, 0, 2)  # idempotent


def test_after_thirteen_months_logs_and_lookups_go_and_money_stays(person):
    before = snapshot()
    outcomes = by_name(retention_purge(now=later(13)))
    assert outcomes["security_log"] == (3, 3, 0, 0)
    assert outcomes["tx_lookups"] == (1, 1, 0, 0)
    assert outcomes["ledger"] == (0, 0, 0, 6)
    assert outcomes["profile"] == (0, 0, 0, 1)  # the account is open: kept for its life
    assert snapshot() == {**before, "security": 0, "lookups": 0}


def test_a_closed_account_waits_for_its_financial_records(person):
    account_terminate(profile=person.client, reason="closed at the client's request")
    outcomes = by_name(retention_purge(now=later(37)))  # 3 years after closure have passed...
    assert outcomes["profile"] == (0, 0, 1, 0)  # ...but the ledger still needs the person
    person.client.user.refresh_from_db()
    assert person.client.user.email == "ada@example.com"
    assert LedgerEntry.objects.count() == 6


def test_after_five_years_the_person_is_anonymised_and_the_ledger_kept(person):
    account_terminate(profile=person.client, reason="closed")
    ledger_before = list(LedgerEntry.objects.order_by("id").values_list("id", "account_id", "amount"))
    outcomes = by_name(retention_purge(now=later(61)))
    assert outcomes["profile"] == (1, 1, 0, 0)
    assert outcomes["ledger"] == (6, 0, 0, 0)  # past its period, never deleted
    assert outcomes["deposits"] == (1, 1, 0, 0)  # the sending address is removed
    assert outcomes["topups"] == (1, 0, 0, 0) and outcomes["charges"] == (1, 0, 0, 0)
    assert list(LedgerEntry.objects.order_by("id").values_list("id", "account_id", "amount")) == ledger_before
    profile = ClientProfile.objects.select_related("user").get(pk=person.client.pk)
    user = profile.user
    assert (user.username, user.email, user.first_name, user.last_name) == (
        f"erased-{profile.pk}",
        "",
        "",
        "",
    )
    assert not user.is_active and not user.has_usable_password() and profile.anonymised_at is not None
    assert Deposit.objects.get().sender == ""
    assert by_name(retention_purge(now=later(61)))["profile"] == (0, 0, 0, 0)  # done once


def test_an_open_account_is_never_anonymised(person):
    assert by_name(retention_purge(now=later(121)))["profile"] == (0, 0, 0, 1)
    person.client.user.refresh_from_db()
    assert person.client.user.email == "ada@example.com"


def test_the_ledger_survives_every_purge_whatever_the_date(person):
    account_terminate(profile=person.client, reason="closed")
    count = LedgerEntry.objects.count()
    for months in (0, 13, 37, 59, 61, 121, 600):
        retention_purge(now=later(months))
        assert LedgerEntry.objects.count() == count
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM payments_ledgerentry")


@pytest.fixture
def aml_lookups(monkeypatch):
    """TxLookup rows standing in for an AML record (the AML app registers its own the same way)."""
    monkeypatch.setattr(registry, "_categories", dict(registry._categories))
    registry.category_unregister("tx_lookups")
    return category_register(
        name="test.aml_records", model="payments.TxLookup", owner="topup__client", clock="created_at",
        period="aml", action=Action.DELETE, title="AML record", basis=registry.BASIS_AML,
    )  # fmt: skip


def test_aml_records_are_kept_for_their_whole_period(person, aml_lookups):
    account_terminate(profile=person.client, reason="closed")
    for months in (13, 37, 59):
        outcomes = by_name(retention_purge(now=later(months)))
        assert outcomes["test.aml_records"] == (0, 0, 0, 1)
        assert TxLookup.objects.count() == 1
    assert by_name(retention_purge(now=later(61)))["test.aml_records"] == (1, 1, 0, 0)
    assert TxLookup.objects.count() == 0


def test_a_record_held_by_aml_keeps_the_person(person, aml_lookups, make_staff):
    """The ledger ends at 60 months; a newer AML record of the same person holds them longer."""
    account_terminate(profile=person.client, reason="closed")
    TxLookup.objects.filter(pk=person.lookup.pk).update(created_at=later(24))  # a later AML record
    assert by_name(retention_purge(now=later(61)))["profile"] == (0, 0, 1, 0)
    assert by_name(retention_purge(now=later(85)))["profile"] == (1, 1, 0, 0)


def test_the_registry_refuses_anything_that_would_cut_a_legal_period_short(monkeypatch):
    monkeypatch.setattr(registry, "_categories", dict(registry._categories))
    common = {"owner": "account__client", "clock": "created_at", "title": "x"}
    with pytest.raises(ValueError, match="cut that short"):
        category_register(
            name="t1", model="payments.LedgerEntry", period="technical_log", action="delete", **common
        )
    with pytest.raises(ValueError, match="kept on erasure"):
        category_register(
            name="t2", model="payments.Charge", period="financial", action="keep", on_erasure=OnErasure.ERASE,
            owner="client", clock="created_at", title="x",
        )  # fmt: skip
    with pytest.raises(ValueError, match="cut that short"):  # the other way round: legal after short
        category_register(
            name="t3", model="payments.TxLookup", period="aml", action="delete",
            owner="topup__client", clock="created_at", title="x",
        )  # fmt: skip
    with pytest.raises(ValueError, match="already registered"):
        category_register(name="ledger", model="payments.Hold", period="financial", action="keep", **common)
    with pytest.raises(ValueError, match="unknown retention period"):
        category_register(name="t4", model="payments.Hold", period="forever", action="keep", **common)
    assert {"t1", "t2", "t3", "t4"}.isdisjoint(registry._categories)


def test_periods_follow_the_settings(person, settings):
    settings.NEXORA_RETENTION_MONTHS = {**settings.NEXORA_RETENTION_MONTHS, "security_log": 24}
    assert by_name(retention_purge(dry_run=True))["security_log"] == (0, 0, 0, 3)


def test_command_prints_the_plan_by_category(person):
    out = StringIO()
    call_command("retention_purge", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    cutoff = months_before(timezone.now(), 12).date().isoformat()
    assert lines[0] == "Dry run: nothing is changed."
    assert (
        f"security_log: 12 months (security_log), before {cutoff}: would delete 1; 2 within the period"
        in lines
    )
    assert any(
        line.startswith("ledger: 60 months (financial)") and "0 past the period, kept" in line
        for line in lines
    )
    assert len(lines) == 1 + len(registry.categories())
    assert SecurityEvent.objects.count() == 3
    call_command("retention_purge", stdout=out)
    assert SecurityEvent.objects.count() == 2


def test_the_daily_task_runs_the_purge(person):
    result = retention_purge_task.delay().get()
    assert {r["name"]: r["acted"] for r in result}["security_log"] == 1
    assert SecurityEvent.objects.count() == 2
