"""The client's copy of their data, from the client area and the API, JSON and CSV, exact counts."""

from __future__ import annotations

import csv
import io
from collections import Counter

import orjson
import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from nexora.accounts.models import SecurityEvent
from nexora.privacy.exports import export_build, export_csv
from payments.services.holds import hold_place
from tests.privacy.conftest import SENDER, make_person

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EXPECTED_COUNTS = {
    "profile": 1,
    "security_log": 3,
    "topups": 1,
    "deposits": 1,
    "charges": 1,
    "ledger": 3,
    "erasure_requests": 0,
    # Registered by the AML, notification and refund parts: this client has none of them.
    "payouts": 0,
    "refund_addresses": 0,
    "aml.documents": 0,
    "aml.statements": 0,
    "aml.document_requests": 0,
    "notifications.deliveries": 0,
    "notifications.inbox": 0,
}


def token_api(user: object) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")  # type: ignore[misc]
    return api


def test_the_document_has_every_category_with_exact_rows(person):
    document = export_build(client=person.client)
    assert document["format"] == "nexora-export/1" and document["client_id"] == person.client.pk
    assert {name: len(rows) for name, rows in document["categories"].items()} == EXPECTED_COUNTS
    (profile,) = document["categories"]["profile"]
    assert (profile["email"], profile["first_name"], profile["last_name"]) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
    )
    assert profile["two_factor"] is False and profile["account_status"] == "active"
    (deposit,) = document["categories"]["deposits"]
    assert deposit["from_address"] == SENDER and deposit["status"] == "credited"
    assert deposit["credited_amount"] == "50.00" and deposit["tx_hash"] == person.deposit.tx_hash
    assert [e["amount"] for e in document["categories"]["ledger"]] == ["100.00", "50.00", "-10.00"]
    assert document["categories"]["ledger"][2]["description"] == "VPS March"
    (topup,) = document["categories"]["topups"]
    assert topup["id"] == str(person.topup.public_id) and topup[
        "crypto_amount"
    ] == person.topup.network.display(person.topup.crypto_amount)


def test_no_aml_internals_and_no_other_client(person, make_client, network, make_staff):
    other = make_person(make_client, network, email="bob@example.com")
    hold_place(
        client=person.client,
        amount=person.charge.amount,
        idempotency_key="h1",
        reason="sanctions rule S-7 hit",
    )
    document = orjson.dumps(export_build(client=person.client)).decode()
    assert "sanctions" not in document and "S-7" not in document
    assert "bob@example.com" not in document and other.deposit.tx_hash not in document
    assert orjson.loads(document)["categories"]["ledger"][-1]["description"] == ""  # a hold, no reason


def test_csv_is_the_same_content_in_long_form(person):
    document = export_build(client=person.client)
    rows = list(csv.reader(io.StringIO(export_csv(document))))
    assert rows[0] == ["category", "record", "field", "value"]
    expected = sum(len(row) for section in document["categories"].values() for row in section)
    assert len(rows) - 1 == expected
    per_category = Counter(category for category, _ in {(r[0], r[1]) for r in rows[1:]})
    assert per_category == {name: count for name, count in EXPECTED_COUNTS.items() if count}
    assert ["profile", "1", "email", "ada@example.com"] in rows
    assert ["ledger", "3", "amount", "-10.00"] in rows  # a negative number stays a number


def test_csv_cells_cannot_become_spreadsheet_formulas(person):
    person.client.user.first_name = '=HYPERLINK("http://x")'
    person.client.user.save()
    rows = list(csv.reader(io.StringIO(export_csv(export_build(client=person.client)))))
    assert ["profile", "1", "first_name", '\'=HYPERLINK("http://x")'] in rows


def test_client_area_downloads(person):
    web = Client()
    web.force_login(person.client.user)
    as_json = web.get("/account/privacy/export.json")
    assert as_json.status_code == 200 and as_json["Content-Type"] == "application/json"
    assert as_json["Content-Disposition"] == f'attachment; filename="nexora-data-{person.client.pk}.json"'
    body = orjson.loads(as_json.content)
    assert {name: len(rows) for name, rows in body["categories"].items()} == {
        **EXPECTED_COUNTS,
        "security_log": 4,
    }
    as_csv = web.get("/account/privacy/export.csv")
    assert as_csv.status_code == 200 and as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert as_csv.content.decode().startswith("category,record,field,value\r\n")
    exported = SecurityEvent.objects.filter(user=person.client.user, kind="data_exported")
    assert list(exported.order_by("id").values_list("detail", flat=True)) == ["json", "csv"]
    assert web.get("/account/privacy/").status_code == 200


def test_api_export_json_and_csv(person):
    api = token_api(person.client.user)
    response = api.get("/api/v1/me/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert {n: len(r) for n, r in response.json()["categories"].items()} == EXPECTED_COUNTS
    response = api.get("/api/v1/me/export/?format=csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    per_category = Counter(category for category, _ in {(r[0], r[1]) for r in rows[1:]})
    nonempty = {name: count for name, count in EXPECTED_COUNTS.items() if count}
    assert per_category == {**nonempty, "security_log": 4}  # the JSON download above was logged
    bad = api.get("/api/v1/me/export/?format=xml")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"
    assert bad.json()["error"]["code"] == "invalid_format"


def test_api_export_refuses_others(person, make_staff):
    anonymous = APIClient().get("/api/v1/me/export/?format=csv")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    staff = APIClient()
    staff.force_authenticate(make_staff("admin"))
    assert staff.get("/api/v1/me/export/").status_code == 403
    assert not SecurityEvent.objects.filter(kind="data_exported").exists()


def test_staff_have_no_privacy_pages(make_staff):
    web = Client()
    web.force_login(make_staff("support"))
    assert web.get("/account/privacy/export.json").status_code == 403
    assert web.get("/account/").status_code == 403
