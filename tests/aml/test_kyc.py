"""KYC levels and limits: a top-up above the level's limit is a 409 that writes nothing; only staff
change a level, through an audited transition; limits come from the published rule set."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from aml.kyc import kyc_level_get, kyc_level_set, kyc_topup_check
from aml.models import Assessment, ClientVerification
from aml.rulesets import ruleset_draft_create, ruleset_draft_update, ruleset_publish
from nexora.accounts.roles import COMPLIANCE_LEAD, COMPLIANCE_OFFICER, SUPPORT
from nexora.common.errors import PermissionDenied, ValidationFailed
from nexora.common.models import StatusChange
from payments.models import DepositAddress, DerivationCounter, TopUp
from tests.aml.factories import history_deposit

pytestmark = pytest.mark.django_db


@pytest.fixture
def network(make_network):
    return make_network("usdt-trc20")


def nothing_written() -> tuple[int, ...]:
    indexes = sum(DerivationCounter.objects.values_list("next_index", flat=True))
    counts = [m.objects.count() for m in (TopUp, DepositAddress, Assessment, StatusChange)]
    return (*counts, indexes)


def test_a_top_up_above_the_level_limit_is_a_409_that_writes_nothing(client_api, network):
    before = nothing_written()
    response = client_api.post(
        "/api/v1/topups/", {"network": "usdt-trc20", "amount": "1000.01"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {"error": {
        "code": "verification_required",
        "message": "This top-up is above what your account can receive before verification. Choose a smaller "
                   "amount, or contact support to verify your account and raise the limit.",
        "fields": {},
    }}  # fmt: skip
    assert nothing_written() == before
    assert (
        client_api.post(
            "/api/v1/topups/", {"network": "usdt-trc20", "amount": "1000.00"}, format="json"
        ).status_code
        == 201
    )


def test_the_rolling_30_day_limit_counts_credited_top_ups(client_api, client_profile, network):
    history_deposit(client_profile, network, amount="1500.00", at=timezone.now() - timedelta(days=29))
    history_deposit(
        client_profile, network, amount="900.00", at=timezone.now() - timedelta(days=31)
    )  # too old
    refused = client_api.post("/api/v1/topups/", {"network": "usdt-trc20", "amount": "500.01"}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "verification_required"
    assert (
        client_api.post(
            "/api/v1/topups/", {"network": "usdt-trc20", "amount": "500.00"}, format="json"
        ).status_code
        == 201
    )


def test_the_client_page_says_what_to_do(client_profile, network):
    browser = Client()
    browser.force_login(client_profile.user)
    page = browser.post("/topups/new/", {"network": "usdt-trc20", "amount": "5000"})
    assert page.status_code == 400
    assert "contact support to verify your account" in page.content.decode()
    browser.cookies["nexora_lang"] = "ru"
    ru = browser.post("/topups/new/", {"network": "usdt-trc20", "amount": "5000"})
    assert "обратитесь в поддержку, чтобы пройти верификацию" in ru.content.decode()
    assert not TopUp.objects.exists()


def test_staff_raise_a_level_through_an_audited_transition(make_client, make_staff, network):
    client, officer = make_client(), make_staff(COMPLIANCE_OFFICER)
    assert kyc_level_get(client.pk) == "unverified"
    assert not kyc_topup_check(client_id=client.pk, amount=Decimal("5000.00"), currency="USD").allowed
    verification = kyc_level_set(
        client=client, level="basic", actor=officer, reason="passport and selfie checked"
    )
    assert (verification.level, kyc_level_get(client.pk)) == ("basic", "basic")
    change = StatusChange.objects.get(entity="kyc")
    assert (change.from_status, change.to_status, change.actor_id, change.reason) == (
        "unverified",
        "basic",
        officer.pk,
        "passport and selfie checked",
    )
    assert kyc_topup_check(client_id=client.pk, amount=Decimal("5000.00"), currency="USD").allowed
    kyc_level_set(client=client, level="full", actor=officer, reason="company documents checked")
    assert kyc_topup_check(client_id=client.pk, amount=Decimal("900000.00"), currency="USD").allowed


def test_only_staff_with_the_permission_change_levels_and_bad_input_writes_nothing(make_client, make_staff):
    client = make_client()
    for actor in (client.user, make_staff(SUPPORT)):
        with pytest.raises(PermissionDenied):
            kyc_level_set(client=client, level="full", actor=actor, reason="trust me")
    officer = make_staff(COMPLIANCE_OFFICER)
    with pytest.raises(ValidationFailed) as bad_level:
        kyc_level_set(client=client, level="platinum", actor=officer, reason="vip")
    with pytest.raises(ValidationFailed) as no_reason:
        kyc_level_set(client=client, level="basic", actor=officer, reason="  ")
    assert (bad_level.value.code, no_reason.value.code) == ("invalid_kyc_level", "reason_required")
    assert not ClientVerification.objects.exists() and not StatusChange.objects.filter(entity="kyc").exists()


def test_limits_are_rule_set_parameters(make_client, make_staff):
    client = make_client()
    officer, lead = make_staff(COMPLIANCE_OFFICER), make_staff(COMPLIANCE_LEAD)
    draft = ruleset_draft_create(actor=officer)
    ruleset_draft_update(
        ruleset=draft, actor=officer, params={"kyc": {"unverified": {"per_topup": "500.00"}}}
    )
    assert kyc_topup_check(client_id=client.pk, amount=Decimal("800.00"), currency="USD").allowed
    ruleset_publish(ruleset=draft, actor=lead)
    check = kyc_topup_check(client_id=client.pk, amount=Decimal("800.00"), currency="USD")
    assert (check.allowed, check.level) == (False, "unverified")
