"""``manage.py demo_setup``: create the demo users and billing key, print how to log in."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from nexora.accounts.services_demo import DEMO_BILLING_KEY, DEMO_PASSWORD, demo_setup, demo_totp_secret


class Command(BaseCommand):
    help = "Create demo users (client and each staff role) and a demo billing API key. Not in production."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_setup()
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD}):"))
        for login in logins:
            self.stdout.write(f"  {login.username:<8} {login.role}")
        self.stdout.write(
            f"Staff two-factor key (all demo staff, dev only): {demo_totp_secret()}; add it to an "
            "authenticator app, or print the current code with: python manage.py demo_otp_code USERNAME"
        )
        self.stdout.write(f"Billing API key (Authorization: Api-Key ...): {DEMO_BILLING_KEY}")
        self.stdout.write("Open http://127.0.0.1:8000/ (client area), /admin/ (staff), /api/docs/ (API).")
