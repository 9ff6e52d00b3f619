"""``manage.py apikey_create NAME [--scopes ...]``: create a service API key and print it once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nexora.accounts.services import apikey_create


class Command(BaseCommand):
    help = "Create an API key for a service (e.g. the billing system). The key is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--scopes", default="charges:write")

    def handle(self, *args: Any, **options: Any) -> None:
        key, raw = apikey_create(name=options["name"], scopes=options["scopes"])
        self.stdout.write(f"API key for {key.name} (scopes: {key.scopes}); store it now, it is not kept:")
        self.stdout.write(raw)
