"""The staff assessments API (who may read it, what it answers), and no tipping-off: after a hold
the client's API and pages say only "under review", never a rule, score, list or case."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from aml.rules import RULES
from aml.sanctions.snapshot import holder
from nexora.accounts.roles import COMPLIANCE_LEAD, COMPLIANCE_OFFICER, SUPPORT
from payments.services.topups import topup_create
from tests.aml.factories import history_deposit, pay

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
USDT = 10**6
# Words that would tip a client off: every rule's name and title, and the engine's vocabulary.
FORBIDDEN = [r.name for r in RULES] + [r.title.lower() for r in RULES] + [
    "score", "points", "sanction", "deny list", "structuring", "assessment", "aml", "case #", "rule set",
]  # fmt: skip


@pytest.fixture
def held(make_client, make_network):
    """A client whose second top-up (just under the KYC limit again) is held for review."""
    holder.reset()
    network = make_network("usdt-erc20", confirmations=1)
    client = make_client()
    history_deposit(client, network, amount="950.00", at=timezone.now() - timedelta(days=2))
    topup = topup_create(client=client, network_code="usdt-erc20", amount="960.00").topup
    deposit = pay(topup, network, 960 * USDT)
    yield client, topup, deposit
    holder.reset()


def staff_api(make_staff, role: str) -> APIClient:
    api = APIClient()
    api.force_authenticate(make_staff(role))
    return api


def test_compliance_reads_assessments_by_subject_and_by_client(held, make_staff):
    client, _, deposit = held
    for role in (COMPLIANCE_OFFICER, COMPLIANCE_LEAD):
        response = staff_api(make_staff, role).get(
            "/api/v1/staff/assessments/", {"subject": f"deposit:{deposit.pk}"}
        )
        assert response.status_code == 200
        (found,) = response.json()["results"]
        keys = ("subject_type", "subject_ref", "client", "ruleset_version", "decision", "score")
        assert {k: found[k] for k in keys} == {
            "subject_type": "deposit", "subject_ref": f"deposit:{deposit.pk}", "client": client.pk,
            "ruleset_version": 1, "decision": "review", "score": 40,
        }  # fmt: skip
        structuring = next(o for o in found["outcomes"] if o["rule"] == "structuring")
        assert (structuring["outcome"], structuring["points"], structuring["snoozed"]) == ("hit", 40, False)
        assert structuring["reason"].startswith("2nd top-up in 30 days between 900.00 USD and 1,000.00 USD")
    by_client = staff_api(make_staff, COMPLIANCE_OFFICER).get(
        "/api/v1/staff/assessments/", {"client": client.pk}
    )
    assert [a["subject_ref"] for a in by_client.json()["results"]] == [f"deposit:{deposit.pk}"]


def test_who_may_not_read_assessments(held, make_staff, api):
    _, _, deposit = held
    query = {"subject": f"deposit:{deposit.pk}"}
    assert staff_api(make_staff, SUPPORT).get("/api/v1/staff/assessments/", query).status_code == 403
    client_api = APIClient()
    client_api.force_authenticate(held[0].user)
    assert client_api.get("/api/v1/staff/assessments/", query).status_code == 403
    assert api.get("/api/v1/staff/assessments/", query).status_code == 401
    officer = staff_api(make_staff, COMPLIANCE_OFFICER)
    assert officer.get("/api/v1/staff/assessments/").json()["error"]["code"] == "filter_required"
    assert (
        officer.get("/api/v1/staff/assessments/", {"client": "x"}).json()["error"]["code"] == "invalid_input"
    )
    assert officer.get("/api/v1/staff/assessments/", {"subject": "deposit:0"}).json()["results"] == []


def assert_neutral(text: str) -> None:
    lowered = text.lower()
    leaked = [word for word in FORBIDDEN if re.search(rf"\b{re.escape(word.lower())}", lowered)]
    assert leaked == [], leaked


def test_no_tipping_off_in_the_clients_api(held):
    client, topup, _ = held
    api = APIClient()
    api.force_authenticate(client.user)
    detail = api.get(f"/api/v1/topups/{topup.public_id}/")
    assert detail.json()["under_review"] is True
    assert [d["status"] for d in detail.json()["deposits"]] == ["under_review"]
    for path in (
        f"/api/v1/topups/{topup.public_id}/",
        "/api/v1/topups/",
        "/api/v1/balance/",
        "/api/v1/ledger/",
    ):
        response = api.get(path)
        assert response.status_code == 200
        assert_neutral(response.content.decode())


def test_no_tipping_off_in_the_clients_pages(held):
    client, topup, _ = held
    browser = Client()
    browser.force_login(client.user)
    page = browser.get(f"/topups/{topup.public_id}/").content.decode()
    assert "Under review" in page and "being reviewed" in page
    assert_neutral(page)
    assert_neutral(browser.get("/topups/").content.decode())
