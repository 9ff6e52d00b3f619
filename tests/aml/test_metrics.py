"""The AML side of ``/metrics``: decisions by outcome, open cases and their age, notification
deliveries. Exact samples, one query per collector, and nothing about a client or a rule in a label."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aml.cases.metrics import case_metrics
from aml.cases.models import Case
from aml.cases.services import case_open_or_join, case_transition
from aml.metrics import assessment_metrics
from aml.models import Assessment
from aml.notifications.metrics import delivery_metrics
from aml.notifications.models import NotificationDelivery
from aml.notifications.services import delivery_transition, notification_send
from tests.metrics_samples import samples
from tests.review_helpers import ruleset

pytestmark = pytest.mark.django_db
SUBJECTS = ("deposit", "charge", "payout", "account_change")
DECISIONS = ("allow", "review", "freeze")
OPEN_STATUSES = ("open", "awaiting_client", "escalated", "pending_approval")
BANDS = ("review", "freeze")


def assess(client, *, subject="deposit", decision="review", sanctions=False, ref="") -> Assessment:
    return Assessment.objects.create(
        subject_type=subject, subject_ref=ref or f"{subject}:{Assessment.objects.count() + 1}", client=client,
        ruleset=ruleset(), score=80 if decision != "allow" else 0, decision=decision, sanctions_hit=sanctions,
    )  # fmt: skip


def test_assessments_by_subject_and_decision_with_sanctions_hits(make_client, django_assert_num_queries):
    client = make_client()
    for decision in ("allow", "allow", "allow", "review", "freeze"):
        assess(client, decision=decision, sanctions=decision == "freeze")
    assess(client, subject="charge", decision="allow")
    assess(client, subject="payout", decision="review", sanctions=True)
    with django_assert_num_queries(1):
        found = samples(assessment_metrics())
    counts = dict.fromkeys([(s, d) for s in SUBJECTS for d in DECISIONS], 0.0)
    counts.update({("deposit", "allow"): 3.0, ("deposit", "review"): 1.0, ("deposit", "freeze"): 1.0})
    counts.update({("charge", "allow"): 1.0, ("payout", "review"): 1.0})
    assert found == {
        "nexora_aml_assessments_total": counts,
        "nexora_aml_sanctions_hits_total": {
            ("deposit",): 1.0,
            ("charge",): 0.0,
            ("payout",): 1.0,
            ("account_change",): 0.0,
        },
    }


def test_open_cases_by_status_and_band_and_the_oldest_ones_age(
    make_client, monkeypatch, django_assert_num_queries
):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # time stands still: ages are exact
    first = case_open_or_join(client=(a := make_client()), assessment=assess(a))
    second = case_open_or_join(client=(b := make_client()), assessment=assess(b))
    frozen = case_open_or_join(client=(c := make_client()), assessment=assess(c, decision="freeze"))
    waiting = case_open_or_join(client=(d := make_client()), assessment=assess(d))
    case_transition(waiting, to="awaiting_client", reason="documents requested")
    closed = case_open_or_join(client=(e := make_client()), assessment=assess(e))
    case_transition(closed, to="closed", reason="false positive", resolution="false_positive")
    ages = {first: 7200, second: 600, frozen: 86400, waiting: 3600, closed: 10**6}
    for case, age in ages.items():
        Case.objects.filter(pk=case.pk).update(opened_at=now - timedelta(seconds=age))

    with django_assert_num_queries(1):
        found = samples(case_metrics())

    counts = dict.fromkeys([(s, b) for s in OPEN_STATUSES for b in BANDS], 0.0)
    counts.update({("open", "review"): 2.0, ("open", "freeze"): 1.0, ("awaiting_client", "review"): 1.0})
    assert found == {
        "nexora_aml_cases_open": counts,
        "nexora_aml_cases_oldest_age_seconds": {
            ("open", "review"): 7200.0,
            ("open", "freeze"): 86400.0,
            ("awaiting_client", "review"): 3600.0,
        },
    }


def test_deliveries_by_channel_and_status(make_client, settings, django_assert_num_queries):
    settings.NEXORA_TELEGRAM_BOT_TOKEN = "123:token"
    settings.NEXORA_TELEGRAM_BOT_USERNAME = "nexora_bot"
    both = make_client(email="a@example.com")
    both.telegram_chat_id, both.notify_telegram = "42", True
    both.save(update_fields=["telegram_chat_id", "notify_telegram"])
    notification_send(client=both, event="released", dedupe_key="case:1:release")
    notification_send(
        client=make_client(email="b@example.com"), event="released", dedupe_key="case:2:release"
    )
    failed = NotificationDelivery.objects.get(channel="telegram")
    delivery_transition(failed, to="failed", reason="Forbidden: bot was blocked by the user", attempts=1)

    with django_assert_num_queries(1):
        found = samples(delivery_metrics())

    counts = dict.fromkeys([(c, s) for c in ("email", "telegram") for s in ("queued", "sent", "failed")], 0.0)
    counts.update({("email", "queued"): 2.0, ("telegram", "failed"): 1.0})
    assert found == {"nexora_notification_deliveries": counts}
