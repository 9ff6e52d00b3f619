"""``manage.py ledger_verify``: recompute every client balance from its entries; exit 1 on a mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from payments.selectors.ledger import ledger_sum_mismatches


class Command(BaseCommand):
    help = "Check that every client account's running balance equals the sum of its ledger entries."

    def handle(self, *args: Any, **options: Any) -> None:
        mismatches = ledger_sum_mismatches()
        for account_id, balance, total in mismatches:
            self.stderr.write(f"account #{account_id}: balance {balance} but entries sum to {total}")
        if mismatches:
            raise CommandError(f"{len(mismatches)} account(s) out of step with their entries")
        self.stdout.write(self.style.SUCCESS("ledger consistent: every balance equals its entries"))
