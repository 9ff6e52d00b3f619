"""The notifications API: exact shape, the request's language, and who may call it."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from aml.notifications.models import Notification
from aml.notifications.services import notification_send
from nexora.accounts.roles import STAFF_ROLES

pytestmark = pytest.mark.django_db

TOPUP = "8f6b2c1e-4a1d-4c3b-9a57-1f2e3d4c5b6a"


@pytest.fixture
def me(make_subscriber):
    return make_subscriber()


@pytest.fixture
def api_me(me):
    api = APIClient()
    api.force_authenticate(me.user)
    return api


def credited(client, key="deposit:1"):
    return notification_send(
        client=client, event="topup_credited", dedupe_key=key,
        params={"amount": "12.34", "currency": "USD", "network": "USDT (Ethereum, ERC-20)", "topup": TOPUP},
    )  # fmt: skip


def test_list_shows_exact_items_newest_first(api_me, me):
    first = credited(me)
    second = notification_send(
        client=me, event="under_review", params={"topup": TOPUP}, dedupe_key="deposit:2"
    )
    body = api_me.get("/api/v1/notifications/").json()
    assert body["count"] == 2 and [item["id"] for item in body["results"]] == [second.pk, first.pk]
    assert body["results"][1] == {
        "id": first.pk,
        "event": "topup_credited",
        "title": "Your top-up has been credited",
        "body": "The payment has been credited to your balance.",
        "details": [
            {"label": "Amount", "value": "12.34 USD"},
            {"label": "Network", "value": "USDT (Ethereum, ERC-20)"},
        ],
        "url": f"https://pay.example.com/topups/{TOPUP}/",
        "params": {
            "amount": "12.34",
            "currency": "USD",
            "network": "USDT (Ethereum, ERC-20)",
            "topup": TOPUP,
        },
        "read": False,
        "read_at": None,
        "created_at": body["results"][1]["created_at"],
    }
    assert (
        body["results"][0]["details"] == [] and body["results"][0]["title"] == "Your top-up is under review"
    )


def test_texts_follow_the_request_language(api_me, me):
    credited(me)
    item = api_me.get("/api/v1/notifications/", HTTP_ACCEPT_LANGUAGE="ru").json()["results"][0]
    assert (item["title"], item["details"][0]) == (
        "Пополнение зачислено",
        {"label": "Сумма", "value": "12.34 USD"},
    )


def test_unread_filter_and_marking_read(api_me, me, make_subscriber):
    one, two = credited(me), credited(me, key="deposit:2")
    response = api_me.post(f"/api/v1/notifications/{one.pk}/read/")
    assert response.status_code == 200 and response.json()["read"] is True and response.json()["read_at"]
    unread = api_me.get("/api/v1/notifications/?unread=true").json()
    assert [item["id"] for item in unread["results"]] == [two.pk]
    assert api_me.post("/api/v1/notifications/read-all/").json() == {"marked": 1}
    assert api_me.post("/api/v1/notifications/read-all/").json() == {"marked": 0}
    assert api_me.get("/api/v1/notifications/?unread=1").json()["count"] == 0


def test_another_clients_notification_is_a_404(api_me, make_subscriber):
    theirs = credited(make_subscriber())
    for path in (f"/api/v1/notifications/{theirs.pk}/read/", "/api/v1/notifications/99999999/read/"):
        response = api_me.post(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert api_me.get("/api/v1/notifications/").json()["count"] == 0


def test_anonymous_gets_401(make_subscriber):
    n = credited(make_subscriber())
    api = APIClient()
    for response in (api.get("/api/v1/notifications/"), api.post(f"/api/v1/notifications/{n.pk}/read/"),
                     api.post("/api/v1/notifications/read-all/")):  # fmt: skip
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    assert Notification.objects.get(pk=n.pk).read_at is None


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_staff_get_403(make_staff, make_subscriber, role):
    n = credited(make_subscriber())
    api = APIClient()
    api.force_authenticate(make_staff(role))
    for response in (api.get("/api/v1/notifications/"), api.post(f"/api/v1/notifications/{n.pk}/read/"),
                     api.post("/api/v1/notifications/read-all/")):  # fmt: skip
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert Notification.objects.get(pk=n.pk).read_at is None


def test_billing_key_gets_403(billing_api, make_subscriber):
    credited(make_subscriber())
    response = billing_api.get("/api/v1/notifications/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_the_schema_documents_the_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    assert {
        "/api/v1/notifications/",
        "/api/v1/notifications/{id}/read/",
        "/api/v1/notifications/read-all/",
    } <= set(schema["paths"])
