"""The balance, ledger and charges endpoints: shapes, idempotency, bad input, other clients' data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nexora.accounts.services import account_freeze, account_terminate
from payments.hooks import Verdict, screener_register, screener_unregister
from payments.models import Charge, Hold, LedgerEntry, LedgerTransaction
from payments.selectors.ledger import balance_get
from payments.services.charges import charge_approve, charge_reject

pytestmark = pytest.mark.django_db


def charge_body(profile, **overrides):
    body = {
        "client": profile.pk,
        "amount": "12.50",
        "currency": "USD",
        "description": "VPS March",
        "order_ref": "INV-1",
        "idempotency_key": "inv-1",
    }
    body.update(overrides)
    return body


def snapshot():
    return (
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        Charge.objects.count(),
        Hold.objects.count(),
    )


def test_balance_shows_decimal_strings(client_api, client_profile):
    response = client_api.get("/api/v1/balance/")
    assert response.status_code == 200
    assert response.json() == {
        "currency": "USD",
        "available": "100.00",
        "held": "0.00",
        "account_status": "active",
    }


def test_ledger_lists_own_entries_newest_first(client_api, client_profile, billing_api, make_client):
    other = make_client(balance="999.00")
    assert billing_api.post("/api/v1/charges/", charge_body(client_profile), format="json").status_code == 201
    data = client_api.get("/api/v1/ledger/").json()
    assert data["count"] == 2
    rows = [(r["kind"], r["amount"], r["balance"], r["reference"]) for r in data["results"]]
    assert rows == [("charge", "-12.50", "available", "INV-1"), ("topup", "100.00", "available", "")]
    assert set(data["results"][0]) == {
        "id",
        "created_at",
        "kind",
        "amount",
        "currency",
        "balance",
        "reference",
        "description",
    }
    others = set(LedgerEntry.objects.filter(account__client=other).values_list("id", flat=True))
    assert others and not others & {r["id"] for r in data["results"]}


def test_charge_is_created_once_per_idempotency_key(billing_api, client_profile):
    first = billing_api.post("/api/v1/charges/", charge_body(client_profile), format="json")
    again = billing_api.post("/api/v1/charges/", charge_body(client_profile), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["status"] == "posted" and first.json()["amount"] == "12.50"
    assert balance_get(client=client_profile).available == Decimal("87.50")
    assert LedgerTransaction.objects.filter(kind="charge").count() == 1
    detail = billing_api.get(f"/api/v1/charges/{first.json()['id']}/")
    assert detail.status_code == 200 and detail.json() == first.json()


def test_reused_key_with_other_parameters_is_a_conflict(billing_api, client_profile):
    billing_api.post("/api/v1/charges/", charge_body(client_profile), format="json")
    before = snapshot()
    response = billing_api.post(
        "/api/v1/charges/", charge_body(client_profile, amount="13.00"), format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert snapshot() == before


def test_insufficient_funds_is_409_and_writes_nothing(billing_api, client_profile):
    before = snapshot()
    response = billing_api.post(
        "/api/v1/charges/", charge_body(client_profile, amount="100.01"), format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert snapshot() == before


@pytest.mark.parametrize("change", [account_freeze, account_terminate])
def test_frozen_or_terminated_account_cannot_be_charged(billing_api, client_profile, change):
    change(profile=client_profile, reason="review")
    before = snapshot()
    response = billing_api.post("/api/v1/charges/", charge_body(client_profile), format="json")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "account_frozen",
        "message": "The account is restricted; this operation is not possible right now.",
        "fields": {},
    }
    assert snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "status", "code", "field"),
    [
        ({"amount": "-5.00"}, 400, "amount_not_positive", "amount"),
        ({"amount": "0"}, 400, "amount_not_positive", "amount"),
        ({"amount": "0.00"}, 400, "amount_not_positive", "amount"),
        ({"amount": "abc"}, 400, "invalid_amount", "amount"),
        ({"amount": "1e3"}, 400, "invalid_amount", "amount"),
        ({"amount": "NaN"}, 400, "invalid_amount", "amount"),
        ({"amount": "Infinity"}, 400, "invalid_amount", "amount"),
        ({"amount": 12.5}, 400, "invalid_input", "amount"),
        ({"amount": "1.005"}, 400, "too_many_decimals", "amount"),
        ({"amount": "1000000000.01"}, 400, "amount_too_large", "amount"),
        ({"amount": "9" * 60}, 400, "invalid_amount", "amount"),
        ({"currency": "XYZ"}, 400, "unknown_currency", "currency"),
        ({"currency": "EUR"}, 400, "currency_mismatch", "currency"),
        ({"client": 999999}, 400, "unknown_client", "client"),
        ({"client": "abc"}, 400, "invalid_input", "client"),
        ({"description": ""}, 400, "invalid_input", "description"),
        ({"idempotency_key": ""}, 400, "invalid_input", "idempotency_key"),
    ],
)
def test_bad_charge_input_is_rejected_and_writes_nothing(
    billing_api, client_profile, overrides, status, code, field
):
    before = snapshot()
    response = billing_api.post("/api/v1/charges/", charge_body(client_profile, **overrides), format="json")
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert field in error["fields"]
    assert snapshot() == before
    assert balance_get(client=client_profile).available == Decimal("100.00")


def test_missing_fields_and_malformed_json(billing_api, client_profile):
    response = billing_api.post("/api/v1/charges/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {
        "client",
        "amount",
        "currency",
        "description",
        "idempotency_key",
    }
    assert response.json()["error"]["fields"]["amount"] == [
        {"code": "required", "message": "This field is required."}
    ]
    response = billing_api.post("/api/v1/charges/", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
    assert Charge.objects.count() == 0


def test_unknown_charge_and_route_are_404_envelopes(billing_api):
    response = billing_api.get("/api/v1/charges/424242/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = billing_api.get("/api/v1/nope/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_review_verdict_holds_the_charge_until_a_human_decides(billing_api, client_profile, make_staff):
    def review(fact):
        return Verdict.REVIEW

    screener_register("charge_requested", review)
    try:
        response = billing_api.post(
            "/api/v1/charges/", charge_body(client_profile, amount="40.00"), format="json"
        )
    finally:
        screener_unregister("charge_requested", review)
    assert response.status_code == 201 and response.json()["status"] == "pending_review"
    b = balance_get(client=client_profile)
    assert (b.available, b.held) == (Decimal("60.00"), Decimal("40.00"))
    lead = make_staff("compliance_lead")
    charge = Charge.objects.get()
    charge_approve(charge=charge, actor=lead, reason="known customer")
    b = balance_get(client=client_profile)
    assert (b.available, b.held, charge.status) == (Decimal("60.00"), Decimal("0.00"), "posted")


def test_failing_screener_holds_rather_than_allows(billing_api, client_profile, make_staff):
    def broken(fact):
        raise RuntimeError("rule crashed")

    screener_register("charge_requested", broken)
    try:
        response = billing_api.post("/api/v1/charges/", charge_body(client_profile), format="json")
    finally:
        screener_unregister("charge_requested", broken)
    assert response.json()["status"] == "pending_review"
    charge_reject(charge=Charge.objects.get(), actor=make_staff("compliance_lead"), reason="no")
    b = balance_get(client=client_profile)
    assert (b.available, b.held) == (Decimal("100.00"), Decimal("0.00"))
    assert Charge.objects.get().status == "rejected"
