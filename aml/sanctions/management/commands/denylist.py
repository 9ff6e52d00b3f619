"""``denylist add|remove ADDRESS --reason WHY --actor USERNAME`` and ``denylist list``: the deny list
from a shell. The actor must be compliance staff, exactly as in the dashboard (``services.denylist``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aml.sanctions.selectors import denylist_active
from aml.sanctions.services import denylist_add, denylist_remove
from nexora.common.errors import NexoraError


class Command(BaseCommand):
    help = "Add an address to the operator's deny list, remove one (soft, audited), or list the active ones."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for name in ("add", "remove"):
            action = actions.add_parser(name)
            action.add_argument("address")
            action.add_argument("--reason", required=True)
            action.add_argument("--actor", required=True, help="Username of the compliance staff member.")
        actions.add_parser("list")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for entry in denylist_active():
                self.stdout.write(
                    f"{entry.address}\t{entry.family}\t{entry.added_at:%Y-%m-%d}\t{entry.reason}"
                )
            return
        actor = get_user_model().objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"Nothing was changed. No user {options['actor']!r}.")
        service = denylist_add if options["action"] == "add" else denylist_remove
        try:
            entry = service(address=options["address"], reason=options["reason"], actor=actor)
        except NexoraError as exc:
            raise CommandError(f"Nothing was changed. {exc.message}") from None
        self.stdout.write(f"{entry.address} ({entry.family}): {entry.status}, entry #{entry.pk}")
