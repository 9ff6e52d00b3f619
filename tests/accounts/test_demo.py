"""The demo (``make run``) still gives a usable staff login now that staff need two-factor auth."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from nexora.accounts.services_demo import DEMO_PASSWORD, demo_totp_secret

pytestmark = pytest.mark.django_db


def test_demo_staff_log_in_with_the_printed_key(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    out = StringIO()
    call_command("demo_setup", stdout=out)
    call_command("demo_setup", stdout=StringIO())  # idempotent: still one device each
    assert f"Staff two-factor key (all demo staff, dev only): {demo_totp_secret()}" in out.getvalue()
    web = Client()
    login = web.post("/accounts/login/", {"username": "lead", "password": DEMO_PASSWORD, "next": "/admin/"})
    assert login.status_code == 302
    assert web.get("/admin/")["Location"] == "/account/2fa/verify/?next=/admin/"
    code = StringIO()
    call_command("demo_otp_code", "lead", stdout=code)
    verified = web.post("/account/2fa/verify/", {"token": code.getvalue().strip(), "next": "/admin/"})
    assert verified.status_code == 302 and web.get("/admin/").status_code == 200
    from django_otp.plugins.otp_totp.models import TOTPDevice

    assert TOTPDevice.objects.filter(user__username="lead").count() == 1


def test_no_demo_codes_for_other_users_or_in_production(settings, client_profile):
    call_command("demo_setup", stdout=StringIO())
    with pytest.raises(CommandError, match="no demo device"):
        call_command("demo_otp_code", client_profile.user.username, stdout=StringIO())
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="never shown in production"):
        call_command("demo_otp_code", "lead", stdout=StringIO())
