"""The client corrects their profile; a new e-mail is screened (REFUSE refuses, nothing written)."""

from __future__ import annotations

import pytest
from django.test import Client

from nexora.accounts.models import SecurityEvent
from payments.hooks import AccountChanged, Verdict, screener_register, screener_unregister

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(client_profile):
    browser = Client()
    browser.force_login(client_profile.user)
    return browser


@pytest.fixture
def screened():
    seen: list[AccountChanged] = []
    verdict = {"value": Verdict.ALLOW}

    def screener(fact: AccountChanged) -> Verdict:
        seen.append(fact)
        return verdict["value"]

    screener_register("account_changed", screener)
    yield seen, verdict
    screener_unregister("account_changed", screener)


def form(**overrides: str) -> dict[str, str]:
    return {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "language": "uk",
        **overrides,
    }


def changes(user: object) -> list[str]:
    rows = SecurityEvent.objects.filter(user=user, kind="profile_changed").order_by("id")  # type: ignore[misc]
    return list(rows.values_list("detail", flat=True))


def test_the_client_corrects_their_details(web, client_profile, screened):
    seen, _ = screened
    response = web.post("/account/", form())
    assert response.status_code == 302 and response.cookies["nexora_lang"].value == "uk"
    client_profile.refresh_from_db()
    user = client_profile.user
    user.refresh_from_db()
    assert (user.email, user.first_name, user.last_name, client_profile.language) == (
        "ada@example.com", "Ada", "Lovelace", "uk"
    )  # fmt: skip
    assert seen == [AccountChanged(client_id=client_profile.pk, field="email", new_value="ada@example.com")]
    assert changes(user) == ["email, first_name, last_name, language"]
    assert web.post("/account/", form()).status_code == 302  # the same again changes nothing
    assert changes(user) == ["email, first_name, last_name, language"] and len(seen) == 1


def test_a_refused_email_change_writes_nothing(web, client_profile, screened):
    _, verdict = screened
    verdict["value"] = Verdict.REFUSE
    response = web.post("/account/", form(email="new@example.com"))
    assert response.status_code == 403
    assert "cannot be made right now" in response.content.decode()
    user = client_profile.user
    user.refresh_from_db()
    client_profile.refresh_from_db()
    assert (user.email, user.first_name, client_profile.language) == ("", "", "en")
    assert changes(user) == []


def test_review_lets_the_change_through(web, client_profile, screened):
    _, verdict = screened
    verdict["value"] = Verdict.REVIEW
    assert web.post("/account/", form(email="new@example.com")).status_code == 302
    client_profile.user.refresh_from_db()
    assert client_profile.user.email == "new@example.com"


def test_bad_input_is_refused_with_nothing_written(web, client_profile, screened):
    seen, _ = screened
    assert web.post("/account/", form(email="not-an-email")).status_code == 400
    assert web.post("/account/", form(language="de")).status_code == 400
    assert web.post("/account/", form(first_name="x" * 151)).status_code == 400
    client_profile.user.refresh_from_db()
    assert client_profile.user.first_name == "" and seen == [] and changes(client_profile.user) == []


def test_the_profile_page_shows_the_current_values(web, client_profile):
    page = web.get("/account/")
    assert page.status_code == 200
    assert f"Client number {client_profile.pk}" in page.content.decode()
