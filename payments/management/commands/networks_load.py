"""``networks_load FILE``: create or update networks from a YAML or JSON file (see docs/configuration.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nexora.common.errors import ValidationFailed
from payments.services.networks import networks_load


def _read(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CommandError(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    entries = data.get("networks") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CommandError(f'{path}: expected a list of networks (or {{"networks": [...]}}).')
    return entries


class Command(BaseCommand):
    help = "Create or update networks by code from a YAML or JSON file; never deletes one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--disable-missing", action="store_true", help="Disable (never delete) networks not in the file."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        entries = _read(options["file"])
        try:
            report = networks_load(entries=entries, disable_missing=options["disable_missing"])
        except ValidationFailed as exc:
            raise CommandError(f"Nothing was changed. {exc.message}") from None
        for outcome in ("created", "updated", "unchanged", "missing", "disabled"):
            codes = getattr(report, outcome)
            if codes:
                self.stdout.write(f"{outcome}: {', '.join(codes)}")
