"""``sanctions_import PATH [PATH ...]``: import one OFAC XML file or per-asset lists; print a summary."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from aml.sanctions.models import SanctionsImport
from aml.sanctions.services import sanctions_import_run
from nexora.common.errors import ValidationFailed

_COUNTS = ("added", "delisted", "unchanged", "updated")


class Command(BaseCommand):
    help = (
        "Import OFAC sanctioned addresses: one SDN advanced XML file (.xml or .xml.bz2; its "
        "sdn_advanced_checksum.txt is verified when beside it) or sanctioned_addresses_<ASSET>.txt/.json "
        "lists. One transaction: a broken file changes nothing. Listings missing from a newer file of "
        "the same scope are recorded as delisted, never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--actor", help="Username recorded as having run the import.")
        parser.add_argument(
            "--allow-older",
            action="store_true",
            help="Import an XML file published before the newest one imported (undoes newer changes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = _user(options["actor"]) if options["actor"] else None
        label = f"manage.py sanctions_import (os user {getpass.getuser()})"
        try:
            record = sanctions_import_run(
                paths=options["paths"], actor=actor, actor_label=label, allow_older=options["allow_older"]
            )
        except ValidationFailed as exc:
            raise CommandError(f"Nothing was changed. {exc.message}") from None
        for line in summary_lines(record):
            self.stdout.write(line)


def _user(username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"Nothing was changed. No user {username!r}.")
    return user


def summary_lines(record: SanctionsImport) -> list[str]:
    published = f", published {record.published_on}" if record.published_on else ""
    checksum = ", OFAC checksum verified" if record.checksum_verified else ""
    scope = ", assets " + " ".join(record.scope_assets) if record.scope_assets else ""
    lines = [f"sanctions import #{record.pk}: {record.get_source_kind_display()}{scope}{published}{checksum}"]
    lines += [f"  {file['name']}  {file['size']} bytes  sha256 {file['sha256']}" for file in record.files]
    lines.append(f"  {'family':<10}" + "".join(f"{name:>11}" for name in _COUNTS))
    for family, counts in record.per_family.items():
        lines.append(f"  {family:<10}" + "".join(f"{counts[name]:>11}" for name in _COUNTS))
    lines.append(f"  {'total':<10}" + "".join(f"{getattr(record, name):>11}" for name in _COUNTS))
    return lines
