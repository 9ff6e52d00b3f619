"""Two-factor authentication: enrolment with a QR code, verification, enforcement for every staff
page, staff API call and the admin, the client's opt-in, and CSRF on every form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from nexora.accounts.models import SecurityEvent
from nexora.accounts.roles import STAFF_ROLES
from nexora.accounts.security import SecurityKind
from tests.otp import totp_code

pytestmark = pytest.mark.django_db

STAFF_PAGE = "/staff/privacy/erasures/"
STAFF_API = "/api/v1/staff/clients/{pk}/balance/"


def logged_in(user: object) -> Client:
    """A browser that logged in with the password only (no second factor yet)."""
    web = Client()
    web.force_login(user)  # type: ignore[arg-type]
    return web


def kinds(user: Any) -> list[str]:
    return list(SecurityEvent.objects.filter(user=user).order_by("id").values_list("kind", flat=True))


# --- enforcement ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_unenrolled_staff_reach_only_the_setup_page(make_staff, client_profile, role):
    web = logged_in(make_staff(role, verified=False))
    for path in (STAFF_PAGE, "/admin/", "/", "/account/security/"):
        response = web.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == f"/account/2fa/setup/?next={path}"
    api = web.get(STAFF_API.format(pk=client_profile.pk))
    assert api.status_code == 403 and api.json()["error"]["code"] == "otp_required"
    assert web.get("/account/2fa/setup/").status_code == 200


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_enrolled_but_unverified_staff_are_asked_for_a_code(make_staff, role):
    user = make_staff(role, verified=False)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    web = logged_in(user)
    for path in (STAFF_PAGE, "/admin/"):
        assert web.get(path)["Location"] == f"/account/2fa/verify/?next={path}"


def test_staff_tokens_never_open_staff_endpoints(make_staff, client_profile):
    """A DRF token carries no second factor: even an enrolled staff member's token is refused."""
    user = make_staff("admin")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = api.get(STAFF_API.format(pk=client_profile.pk))
    assert response.status_code == 403 and response.json()["error"]["code"] == "otp_required"


# Expected status per principal once two-factor authentication passed (anonymous: login first).
MATRIX = {
    STAFF_PAGE: {"anonymous": 302, "client": 403, "support": 200, "compliance_officer": 200,
                 "compliance_lead": 200, "admin": 200},
    "/admin/": {"anonymous": 302, "client": 302, "support": 200, "compliance_officer": 200,
                "compliance_lead": 200, "admin": 200},
    "/admin/accounts/securityevent/": {"anonymous": 302, "client": 302, "support": 403,
                                       "compliance_officer": 403, "compliance_lead": 200, "admin": 200},
    STAFF_API: {"anonymous": 401, "client": 403, "support": 200, "compliance_officer": 200,
                "compliance_lead": 200, "admin": 200},
}  # fmt: skip


@pytest.mark.parametrize("principal", ["anonymous", "client", *STAFF_ROLES])
@pytest.mark.parametrize("path", list(MATRIX))
def test_permission_matrix_after_two_factor(make_staff, client_profile, principal, path):
    web = Client()
    if principal == "client":
        web.force_login(client_profile.user)
    elif principal != "anonymous":
        web.force_login(make_staff(principal))  # verified (tests/conftest.py: otp_verified)
    response = web.get(path.format(pk=client_profile.pk))
    assert response.status_code == MATRIX[path][principal], (principal, path)
    if response.status_code == 302:
        assert "login" in response["Location"]


# --- enrolment and verification ------------------------------------------------------------------


def test_staff_enrolment_with_the_qr_code(make_staff):
    user = make_staff("compliance_officer", verified=False)
    web = logged_in(user)
    page = web.get(f"/account/2fa/setup/?next={STAFF_PAGE}")
    body = page.content.decode()
    assert page.status_code == 200 and "<svg" in body and 'name="csrfmiddlewaretoken"' in body
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    secret = page.context["secret"].replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    wrong = web.post("/account/2fa/setup/", {"token": "000000", "next": STAFF_PAGE})
    assert wrong.status_code == 400
    device.refresh_from_db()
    assert not device.confirmed
    assert web.get(STAFF_PAGE).status_code == 302  # still locked out
    right = web.post("/account/2fa/setup/", {"token": totp_code(device), "next": STAFF_PAGE})
    assert right.status_code == 302 and right["Location"] == STAFF_PAGE
    device.refresh_from_db()
    assert device.confirmed
    assert web.get(STAFF_PAGE).status_code == 200  # this session passed the second factor
    assert kinds(user) == [SecurityKind.LOGIN_SUCCEEDED, SecurityKind.OTP_ENROLLED]


def test_login_then_code_then_staff_pages(make_staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # throttling has its own test below
    user = make_staff("compliance_lead", verified=False)
    user.set_password("pw-lead-123")
    user.save()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    web = Client()
    login = web.post(
        "/accounts/login/", {"username": user.username, "password": "pw-lead-123", "next": "/admin/"}
    )
    assert login.status_code == 302 and login["Location"] == "/admin/"
    assert web.get("/admin/")["Location"] == "/account/2fa/verify/?next=/admin/"
    bad = web.post("/account/2fa/verify/", {"token": "123456", "next": "/admin/"})
    assert bad.status_code == 400 and "not valid" in bad.content.decode()
    good = web.post("/account/2fa/verify/", {"token": totp_code(device), "next": "/admin/"})
    assert good.status_code == 302 and good["Location"] == "/admin/"
    assert web.get("/admin/").status_code == 200
    assert kinds(user)[-3:] == [
        SecurityKind.LOGIN_SUCCEEDED,
        SecurityKind.OTP_FAILED,
        SecurityKind.OTP_VERIFIED,
    ]


def test_a_wrong_code_makes_the_next_try_wait(make_staff):
    """django-otp throttles each device: right after a failure even the right code is refused."""
    user = make_staff("compliance_lead", verified=False)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    web = logged_in(user)
    assert web.post("/account/2fa/verify/", {"token": "000000"}).status_code == 400
    assert web.post("/account/2fa/verify/", {"token": totp_code(device)}).status_code == 400
    assert web.get(STAFF_PAGE).status_code == 302
    assert kinds(user)[-2:] == [SecurityKind.OTP_FAILED, SecurityKind.OTP_FAILED]


def test_verify_never_redirects_off_site(make_staff):
    user = make_staff("support", verified=False)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    web = logged_in(user)
    response = web.post("/account/2fa/verify/", {"token": totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_staff_cannot_turn_two_factor_off(make_staff):
    user = make_staff("admin")
    web = logged_in(user)
    device = TOTPDevice.objects.get(user=user)
    response = web.post("/account/2fa/", {"token": totp_code(device)})
    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1


def test_admin_reset_of_a_lost_device_is_logged(make_staff):
    admin_user, officer = make_staff("admin"), make_staff("compliance_officer")
    web = logged_in(admin_user)
    device = TOTPDevice.objects.get(user=officer)
    response = web.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=officer).exists()
    assert SecurityKind.OTP_REMOVED in kinds(officer)
    assert SecurityEvent.objects.filter(user=admin_user, kind=SecurityKind.STAFF_ACTION).count() == 1


# --- clients -------------------------------------------------------------------------------------


def test_clients_may_turn_two_factor_on_and_off(client_profile, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = client_profile.user
    web = Client()
    assert (
        web.post("/accounts/login/", {"username": user.username, "password": "pw-123456"}).status_code == 302
    )
    assert web.get("/").status_code == 200  # no second factor needed until they turn it on
    web.get("/account/2fa/setup/")
    device = TOTPDevice.objects.get(user=user)
    assert web.post("/account/2fa/setup/", {"token": totp_code(device)}).status_code == 302
    # Three codes in one test: each is accepted once, so each uses a later step, within tolerance.
    TOTPDevice.objects.filter(pk=device.pk).update(tolerance=2)
    web.post("/accounts/logout/")
    web.post("/accounts/login/", {"username": user.username, "password": "pw-123456"})
    assert web.get("/topups/")["Location"] == "/account/2fa/verify/?next=/topups/"
    web.post("/account/2fa/verify/", {"token": totp_code(device, steps_ahead=1)})
    assert web.get("/topups/").status_code == 200
    wrong = web.post("/account/2fa/", {"token": "000000"})
    assert wrong.status_code == 400 and TOTPDevice.objects.filter(user=user).exists()
    off = web.post("/account/2fa/", {"token": totp_code(device, steps_ahead=2)})
    assert off.status_code == 302 and not TOTPDevice.objects.filter(user=user).exists()
    assert kinds(user).count(SecurityKind.OTP_ENROLLED) == 1
    assert kinds(user).count(SecurityKind.OTP_REMOVED) == 1


# --- CSRF ----------------------------------------------------------------------------------------


FORMS = [
    ("/accounts/login/", "anonymous"),
    ("/account/2fa/setup/", "staff"),
    ("/account/2fa/", "client"),
    ("/account/password/", "client"),
    ("/account/", "client"),
    ("/account/privacy/erasure/", "client"),
    ("/account/privacy/erasure/withdraw/", "client"),
    ("/staff/privacy/erasures/1/refuse/", "staff"),
    ("/staff/privacy/erasures/1/execute/", "staff"),
]


@pytest.mark.parametrize(("path", "who"), FORMS)
def test_every_form_is_csrf_protected(make_staff, client_profile, path, who):
    web = Client(enforce_csrf_checks=True)
    if who == "client":
        web.force_login(client_profile.user)
    elif who == "staff":
        web.force_login(make_staff("compliance_lead", verified=path != "/account/2fa/setup/"))
    before = SecurityEvent.objects.count()
    assert web.post(path, {"token": "123456", "comment": "x"}).status_code == 403
    assert SecurityEvent.objects.count() == before
