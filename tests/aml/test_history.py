"""The one aggregate query: every window and count it returns, against rows placed at known times."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aml.engine import features_for, ruleset_in_force_checked
from aml.history import history_features
from aml.models import ClientVerification, RuleSet
from aml.rules.base import CHARGE, DEPOSIT, PAYOUT, Subject
from payments.services.topups import topup_create
from tests.aml.factories import SENDER, history_charge, history_deposit

pytestmark = pytest.mark.django_db
OTHER = "0x2222222222222222222222222222222222222222"


def subject(client, *, amount="100.00", kind=DEPOSIT, sender=SENDER, at=None, **kw) -> Subject:
    return Subject(type=kind, ref=f"{kind}:x", client_id=client.pk, at=at or timezone.now(), currency="USD",
                   amount=Decimal(amount), counterparty=sender, **kw)  # fmt: skip


@pytest.fixture
def setup(make_client, make_network):
    return make_client(balance="1000.00"), make_network("usdt-erc20")


def test_deposit_windows_sums_largest_sources_and_bands(setup, make_client):
    client, network = setup
    now = timezone.now()
    for hours, amount, sender in [(1, "950.00", SENDER), (5, "99.50", OTHER), (30, "960.00", SENDER),
                                  (24 * 20, "40.00", SENDER), (24 * 60, "500.00", SENDER),
                                  (24 * 200, "7000.00", SENDER)]:  # fmt: skip
        history_deposit(client, network, amount=amount, at=now - timedelta(hours=hours), sender=sender)
    history_deposit(make_client(), network, amount="10.00", at=now - timedelta(days=3), sender=SENDER)
    f = history_features(
        subject=subject(client, amount="100.00", at=now), params=ruleset_in_force_checked().params
    ).features
    assert (f.topups_24h, f.topups_30d, f.topups_91d) == (2, 4, 5)
    assert (f.topup_sum_24h, f.topup_sum_30d, f.topup_sum_91d) == (
        Decimal("1049.50"),
        Decimal("2049.50"),
        Decimal("2549.50"),
    )
    assert f.topup_max_91d == Decimal("960.00")
    assert f.sources_24h == 1  # OTHER; the subject's own SENDER is not counted
    assert f.near_identical_24h == 1  # 99.50 is within 1% of 100.00
    assert f.structuring_band_30d == 2  # 950 and 960 in [900, 1000) of the unverified limit
    assert f.first_topup_at == now - timedelta(hours=24 * 200)
    assert f.last_topup_at == now - timedelta(hours=1)
    assert f.source_other_clients == 1
    assert (f.kyc_level, f.kyc_per_topup, f.kyc_rolling_30d) == (
        "unverified",
        Decimal("1000.00"),
        Decimal("2000.00"),
    )
    assert f.first_topup_72h_at == now - timedelta(hours=30)
    assert f.topup_sum_72h == Decimal("2009.50")


def test_band_follows_the_clients_kyc_level(setup):
    client, network = setup
    now = timezone.now()
    history_deposit(client, network, amount="950.00", at=now - timedelta(days=1))
    history_deposit(client, network, amount="9500.00", at=now - timedelta(days=2))
    params = ruleset_in_force_checked().params
    assert history_features(subject=subject(client, at=now), params=params).features.structuring_band_30d == 1
    ClientVerification.objects.create(client=client, level="basic")
    basic = history_features(subject=subject(client, at=now), params=params).features
    assert (basic.kyc_level, basic.structuring_band_30d, basic.kyc_per_topup) == (
        "basic",
        1,
        Decimal("10000.00"),
    )
    ClientVerification.objects.filter(client=client).update(level="full")
    full = history_features(subject=subject(client, at=now), params=params).features
    assert (full.structuring_band_30d, full.kyc_per_topup, full.kyc_rolling_30d) == (0, None, None)


def test_as_of_and_exclusion_make_the_past_reproducible(setup):
    client, network = setup
    now = timezone.now()
    earlier = history_deposit(client, network, amount="10.00", at=now - timedelta(hours=3))
    itself = history_deposit(client, network, amount="20.00", at=now - timedelta(hours=1))
    history_deposit(client, network, amount="30.00", at=now)  # after as_of: not history
    params = ruleset_in_force_checked().params
    f = history_features(subject=subject(client, at=now - timedelta(minutes=30)), params=params,
                         exclude_deposit=itself.pk).features  # fmt: skip
    assert (f.topups_24h, f.topup_sum_24h, f.last_topup_at) == (1, Decimal("10.00"), earlier.credited_at)


def test_quote_of_the_topup_being_paid(setup):
    client, _ = setup
    topup = topup_create(client=client, network_code="usdt-erc20", amount="50.00").topup
    f = history_features(
        subject=subject(client, topup_id=topup.pk, units=1), params=ruleset_in_force_checked().params
    )
    assert (f.features.topup_quoted_units, f.features.topup_prior_units) == (50_000_000, 0)


def test_charges_and_spending_since_the_first_recent_topup(setup):
    client, network = setup
    now = timezone.now()
    history_deposit(client, network, amount="500.00", at=now - timedelta(hours=40))
    history_charge(client, amount="12.00", at=now - timedelta(hours=50))  # before the top-up: not "since"
    history_charge(client, amount="20.00", at=now - timedelta(hours=10))
    history_charge(client, amount="30.00", at=now - timedelta(days=100))  # outside 91 days
    params = ruleset_in_force_checked().params
    charges = history_features(subject=subject(client, kind=CHARGE, at=now), params=params).features
    assert (charges.charges_91d, charges.charge_sum_91d, charges.charge_max_91d) == (
        2,
        Decimal("32.00"),
        Decimal("20.00"),
    )
    assert charges.last_charge_at == now - timedelta(hours=10)
    payout = history_features(subject=subject(client, kind=PAYOUT, at=now), params=params).features
    assert (payout.topup_sum_72h, payout.charged_since_72h_topup) == (Decimal("500.00"), Decimal("20.00"))
    assert payout.first_topup_72h_at == now - timedelta(hours=40)


def test_one_query_per_assessment_and_the_published_version_is_noticed(setup, settings):
    client, _ = setup
    settings.NEXORA_SANCTIONS_RECHECK_SECONDS = 3600
    features_for(subject=subject(client))  # per-process caches: the rule set, the lists' snapshot
    with CaptureQueriesContext(connection) as queries:
        features_for(subject=subject(client))
    assert len(queries) == 1
    published = RuleSet.objects.get(status="published")
    RuleSet.objects.filter(pk=published.pk).update(status="retired")
    newer = RuleSet.objects.create(
        version=99, status="published", params=published.params, published_at=timezone.now()
    )
    with CaptureQueriesContext(connection) as queries:
        _, compiled = features_for(subject=subject(client))
    assert compiled.id == newer.pk and len(queries) == 3  # history, reload, history again


def test_the_plain_statement_answers_like_the_prepared_one(setup, settings):
    client, network = setup
    now = timezone.now()
    for hours, amount in [(2, "950.00"), (30, "99.50"), (24 * 40, "10.00")]:
        history_deposit(client, network, amount=amount, at=now - timedelta(hours=hours))
    params = ruleset_in_force_checked().params
    prepared = history_features(subject=subject(client, at=now), params=params).features
    settings.NEXORA_AML_PREPARED_SQL = False
    with CaptureQueriesContext(connection) as queries:
        plain = history_features(subject=subject(client, at=now), params=params).features
    assert queries[0]["sql"].startswith("SELECT") and plain == prepared
