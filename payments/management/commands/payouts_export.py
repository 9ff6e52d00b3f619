"""``manage.py payouts_export [--output FILE]``: the CSV of approved refunds the treasury must send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payments.payout_export import payouts_csv_write
from payments.selectors.payouts import payouts_to_send


class Command(BaseCommand):
    help = "Write approved, not yet sent refunds as CSV (stdout, or --output FILE)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["output"]:
            with Path(options["output"]).open("w", encoding="utf-8", newline="") as stream:
                count = payouts_csv_write(stream, payouts_to_send())
            self.stderr.write(f"{count} refund(s) written to {options['output']}")
            return
        count = payouts_csv_write(self.stdout, payouts_to_send())
        self.stderr.write(f"{count} refund(s) to send")
