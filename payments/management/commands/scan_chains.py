"""``scan_chains [--once] [--network CODE]``: run the scanner in the foreground (operators, the demo,
tests). The same ``scan_network_once`` as the Celery task, so both paths behave identically, and
the same health bookkeeping on the cursor (``payments.services.scanhealth``)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments.chains.base import ChainError
from payments.models import Network
from payments.scanner import ScanOutcome, scan_network_once
from payments.services.networks import network_spec
from payments.services.scanhealth import scancursor_error_record, scancursor_success_record


class Command(BaseCommand):
    help = "Scan enabled networks for payments: one pass with --once, otherwise until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass over each network, then exit.")
        parser.add_argument("--network", help="Only this network code.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between passes.")

    def handle(self, *args: Any, **options: Any) -> None:
        from payments.chains.registry import adapter_for

        networks = Network.objects.filter(enabled=True)
        if options["network"]:
            networks = networks.filter(code=options["network"])
            if not networks.exists():
                raise CommandError(f"No enabled network {options['network']!r}.")
        while True:
            for network in networks:
                try:
                    outcome = scan_network_once(network=network, adapter=adapter_for(network_spec(network)))
                except ChainError as exc:
                    scancursor_error_record(network=network, error=exc)
                    self.stderr.write(f"{network.code}: {type(exc).__name__}: {exc}")
                    continue
                if not outcome.skipped:
                    scancursor_success_record(network=network)
                self.stdout.write(self._line(outcome))
            if options["once"]:
                return
            time.sleep(options["interval"])

    @staticmethod
    def _line(outcome: ScanOutcome) -> str:
        skipped = " (skipped: another scanner holds the lock)" if outcome.skipped else ""
        return (
            f"{outcome.network}: head {outcome.head}, cursor {outcome.height}, blocks {outcome.blocks}, "
            f"transfers {outcome.transfers}, reorg depth {outcome.reorg_depth}{skipped}"
        )
