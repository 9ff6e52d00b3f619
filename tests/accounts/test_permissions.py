"""Permission matrix: every API endpoint answers only the principals it should."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from nexora.accounts.roles import STAFF_ROLES

pytestmark = pytest.mark.django_db

PRINCIPALS = ["anonymous", "client", *STAFF_ROLES, "billing", "revoked_billing"]


@pytest.fixture
def principal_api(request, client_profile, make_staff, billing_key):
    def make(name: str) -> APIClient:
        api = APIClient()
        if name == "client":
            api.force_authenticate(client_profile.user)
        elif name in STAFF_ROLES:
            api.force_authenticate(make_staff(name))
        elif name == "billing":
            api.credentials(HTTP_AUTHORIZATION=f"Api-Key {billing_key}")
        elif name == "revoked_billing":
            api.credentials(HTTP_AUTHORIZATION="Api-Key nxk_not_a_real_key")
        return api

    return make


def endpoints(profile):
    charge = {
        "client": profile.pk,
        "amount": "1.00",
        "currency": "USD",
        "description": "x",
        "idempotency_key": "perm",
    }
    return {
        "balance": ("get", "/api/v1/balance/", None),
        "ledger": ("get", "/api/v1/ledger/", None),
        "charge_create": ("post", "/api/v1/charges/", charge),
        "staff_balance": ("get", f"/api/v1/staff/clients/{profile.pk}/balance/", None),
    }


ALLOWED = {
    "balance": {"client": 200},
    "ledger": {"client": 200},
    "charge_create": {"billing": 201},
    "staff_balance": {role: 200 for role in STAFF_ROLES},
}


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("endpoint", list(ALLOWED))
def test_permission_matrix(principal_api, client_profile, principal, endpoint):
    method, url, body = endpoints(client_profile)[endpoint]
    response = getattr(principal_api(principal), method)(url, body, format="json")
    expected = ALLOWED[endpoint].get(principal)
    if expected is None:
        expected = 401 if principal in ("anonymous", "revoked_billing") else 403
    assert response.status_code == expected, (principal, endpoint, response.content)
    if expected >= 400:
        assert response.json()["error"]["code"] in {
            "not_authenticated",
            "authentication_failed",
            "permission_denied",
        }


def test_charge_detail_only_for_billing(principal_api, client_profile):
    created = principal_api("billing").post(
        "/api/v1/charges/", endpoints(client_profile)["charge_create"][2], format="json"
    )
    url = f"/api/v1/charges/{created.json()['id']}/"
    assert principal_api("billing").get(url).status_code == 200
    assert principal_api("client").get(url).status_code == 403
    assert principal_api("admin").get(url).status_code == 403
    assert principal_api("anonymous").get(url).status_code == 401


def test_token_auth_for_api_clients(client_profile):
    token = Token.objects.create(user=client_profile.user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/balance/").json()["available"] == "100.00"


def test_session_auth_for_the_client_area(client, client_profile):
    assert client.login(username=client_profile.user.username, password="pw-123456")
    assert client.get("/api/v1/balance/").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and b"100.00 USD" in page.content


def test_staff_client_lookup_of_unknown_client_is_404(principal_api):
    response = principal_api("support").get("/api/v1/staff/clients/999999/balance/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_roles_have_exactly_their_table_permissions(make_staff):
    support, officer, lead = (
        make_staff("support"),
        make_staff("compliance_officer"),
        make_staff("compliance_lead"),
    )
    assert support.has_perm("accounts.view_client_data") and not support.has_perm("accounts.freeze_account")
    assert officer.has_perm("accounts.freeze_account") and not officer.has_perm("accounts.unfreeze_account")
    assert lead.has_perm("accounts.unfreeze_account") and lead.has_perm("accounts.approve_second")
    assert not lead.has_perm("accounts.add_apikey")
    assert make_staff("admin").has_perm("accounts.add_apikey")
