"""``manage.py retention_purge [--dry-run] [--json]``: apply the retention periods now.

Prints one line per data category: its period, the cut-off date, how many rows are past it and
what was (or, with ``--dry-run``, would be) done with them, and how many are still inside it.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandParser

from nexora.privacy.retention import CategoryOutcome, retention_purge

VERBS = {"delete": ("deleted", "would delete"), "anonymise": ("anonymised", "would anonymise")}


def describe(outcome: CategoryOutcome, *, dry_run: bool) -> str:
    head = f"{outcome.name}: {outcome.months} months ({outcome.period}), before {outcome.cutoff:%Y-%m-%d}"
    if outcome.action == "keep":
        done = f"{outcome.expired} past the period, kept (never deleted; the profile is anonymised)"
    else:
        done_verb, plan_verb = VERBS[outcome.action]
        count = outcome.expired if dry_run else outcome.acted
        done = f"{plan_verb if dry_run else done_verb} {count}"
    waiting = f", {outcome.waiting} waiting for financial/AML records" if outcome.waiting else ""
    return f"{head}: {done}{waiting}; {outcome.within} within the period"


class Command(BaseCommand):
    help = "Delete or anonymise personal data past its retention period (see docs/privacy.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be done; change nothing."
        )
        parser.add_argument("--json", action="store_true", help="One JSON object per category.")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        outcomes = retention_purge(dry_run=dry_run)
        if dry_run and not options["json"]:
            self.stdout.write("Dry run: nothing is changed.")
        for outcome in outcomes:
            line = (
                orjson.dumps(outcome.as_dict()).decode()
                if options["json"]
                else describe(outcome, dry_run=dry_run)
            )
            self.stdout.write(line)
