"""``python manage.py aml_backtest --draft ID --days 30``: what a draft would decide differently."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aml.backtest import backtest_run
from aml.models import RuleSet
from nexora.common.errors import NexoraError


class Command(BaseCommand):
    help = "Re-score the last N days of screened subjects with a draft rule set (writes nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--draft", type=int, required=True, help="rule set id (usually a draft)")
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        draft = RuleSet.objects.filter(pk=options["draft"]).first()
        if draft is None:
            raise CommandError(f"No rule set with id {options['draft']}.")
        try:
            report = backtest_run(draft=draft, days=options["days"])
        except NexoraError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {exc.fields or ''}".strip()) from exc
        self.stdout.write(json.dumps(report.as_dict()) if options["json"] else report.as_text())
