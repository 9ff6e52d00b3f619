"""``demo_run``: the whole demo in one command (``make run``): anvil, the test USDT, the devnet
networks, the demo users, the scanner and the web server; Ctrl-C stops them all.

Thin: parses the ports and intervals and hands them to ``payments.demo.DemoRunner`` (whose
docstring explains the order of start and stop). Refused in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nexora.common.errors import NexoraError
from payments.demo import DemoError, DemoOptions, DemoRunner
from payments.devnet import AnvilError


class Command(BaseCommand):
    help = "Run the demo (anvil, the scanner, the web server) until Ctrl-C. Refused in production."

    def add_arguments(self, parser: CommandParser) -> None:
        default = DemoOptions()
        add = parser.add_argument
        add("--host", default=default.host, help="Web server address (default 127.0.0.1).")
        add("--port", type=int, default=default.port, help="Web server port; 0 picks a free one.")
        add("--anvil-port", type=int, default=default.anvil_port, help="anvil's port; 0 picks a free one.")
        add("--block-time", type=int, default=default.block_time, help="Seconds per devnet block.")
        add("--scan-interval", type=float, default=default.scan_interval, help="Seconds between scans.")
        add("--log-dir", type=Path, default=default.log_dir, help="Where anvil's log goes (var/devnet).")

    def handle(self, *args: Any, **options: Any) -> None:
        names = ("host", "port", "anvil_port", "block_time", "scan_interval", "log_dir")
        runner_options = DemoOptions(**{name: options[name] for name in names})
        try:
            DemoRunner(runner_options, out=self._out).run()
        except (DemoError, AnvilError) as exc:
            raise CommandError(str(exc)) from None
        except NexoraError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _out(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
