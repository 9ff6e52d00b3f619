"""``manage.py demo_otp_code USERNAME``: the current two-factor code of a demo staff user (dev only)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nexora.accounts.services_demo import demo_otp_code
from nexora.common.errors import NexoraError


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo staff user (refused in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.stdout.write(demo_otp_code(username=options["username"]))
        except NexoraError as exc:
            raise CommandError(exc.message) from None
