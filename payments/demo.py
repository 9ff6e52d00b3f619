"""The one-command demo (``manage.py demo_run``, behind ``make run``): a local chain, the scanner and
the web server, started together and stopped together.

What :class:`DemoRunner` starts, in this order, and why that order:

1. Checks first, so a refusal starts nothing: never in production; the web and anvil ports must
   be free (``0`` picks a free one; a taken port is an error that names it and says how to choose
   another).
2. ``migrate`` (the embedded SQLite database under ``var/`` unless ``DATABASE_URL`` says otherwise).
3. anvil from ``node_modules`` on loopback only (its dev accounts are unlocked: never reachable
   from outside), interval mining (default a block per second) so confirmations advance by
   themselves; the log goes to ``var/devnet/anvil.log``. The chain starts empty at each run.
4. The test USDT (the committed ``TetherToken`` artifact) deployed from the first dev account,
   which on a fresh chain lands at the address ``config/networks.devnet.yaml`` names; the
   networks are loaded pointing at the node and token actually in use anyway. The dev account
   (the "devnet wallet") is minted 1,000,000 USDT and holds anvil's 10,000 ETH.
5. The demo users and billing key (``demo_setup``), and ``devnet_scan_reset`` for each devnet
   network: the database outlives the chain, so the old chain's cursor is forgotten.
6. The web server: ``runserver --noreload`` as a child process, spawned right after ``migrate`` so
   it boots while steps 3-5 run; the runner then waits until it answers.
7. The scanner: a thread that runs ``scan_network_once`` over every enabled network every
   ``scan_interval`` seconds (one brief line per pass) and expires due top-ups every minute: the
   work Celery beat and a worker do in production, in-process because the demo has no broker.

Stopping (Ctrl-C, SIGTERM, SIGHUP when the terminal closes, or any part dying): the scanner first
(it finishes its pass, so no transaction is cut), then the web server, then anvil, each with
SIGTERM and SIGKILL after a grace period. The children run in their own process groups, so a
terminal's Ctrl-C reaches only the runner, which then stops them in that order; on Linux they also
die with the runner if it is killed outright (``payments.devnet.die_with_parent``). Nothing is left running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

import httpx
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from nexora.accounts.services_demo import DEMO_BILLING_KEY, DEMO_PASSWORD, DemoLogin, demo_setup
from payments.chains.base import ChainAdapter, ChainError, NetworkSpec
from payments.chains.registry import adapter_for
from payments.devnet import Anvil, die_with_parent, free_port, port_in_use, process_stop
from payments.models import Network
from payments.scanner import scan_network_once
from payments.services.devnet import devnet_entries, devnet_scan_reset
from payments.services.networks import network_spec
from payments.services.topups import topups_expire_due

logger = logging.getLogger(__name__)
Out = Callable[[str], None]
DEMO_USDT_SUPPLY = 1_000_000 * 10**6
SERVER_START_TIMEOUT_S = 60.0
EXPIRE_EVERY_S = 60.0


class DemoError(Exception):
    """The demo cannot start or stopped because one of its parts died; the message says which."""


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    anvil_port: int = 8545
    block_time: int = 1
    scan_interval: float = 1.0
    log_dir: Path = field(default_factory=lambda: Path(settings.VAR_DIR) / "devnet")


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")  # the viewer's wall clock: log lines only


class ScanLoop(threading.Thread):
    """The in-process scanner: every enabled network each ``interval`` seconds, one line per pass."""

    def __init__(self, *, interval: float, out: Out) -> None:
        super().__init__(name="demo-scanner", daemon=True)
        self.interval = interval
        self.out = out
        self.passes = 0
        self._stopping = threading.Event()
        self._adapters: dict[int, tuple[NetworkSpec, ChainAdapter]] = {}
        self._expired_at = 0.0

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.out(f"{_now()} scan: {self.scan_pass()}")
                self._stopping.wait(self.interval)
        finally:
            connections.close_all()  # this thread's connections only

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout)

    def scan_pass(self) -> str:
        try:
            parts = [self._scan(network) for network in Network.objects.filter(enabled=True).order_by("code")]
            if time.monotonic() - self._expired_at >= EXPIRE_EVERY_S:
                self._expired_at = time.monotonic()
                expired = topups_expire_due()
                parts += [f"{expired} top-up(s) expired"] if expired else []
        except Exception as exc:  # the loop must outlive one bad pass; the next one retries
            logger.exception("demo scanner pass failed")
            return f"pass failed ({type(exc).__name__}: {exc})"
        self.passes += 1
        return " · ".join(parts) or "no enabled network"

    def _adapter(self, network: Network) -> ChainAdapter:
        spec = network_spec(network)
        cached = self._adapters.get(network.pk)
        if cached is None or cached[0] != spec:  # a reloaded network gets a fresh adapter
            cached = (spec, adapter_for(spec))
            self._adapters[network.pk] = cached
        return cached[1]

    def _scan(self, network: Network) -> str:
        try:
            outcome = scan_network_once(network=network, adapter=self._adapter(network))
        except ChainError as exc:
            return f"{network.code} unreachable ({exc})"
        if outcome.skipped:
            return f"{network.code} skipped (another scanner holds its lock)"
        found = f", {outcome.transfers} transfer(s)" if outcome.transfers else ""
        return f"{network.code} #{outcome.height} +{outcome.blocks}{found}"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class DemoRunner:
    """Starts the demo's parts, serves until interrupted, and always stops what it started."""

    def __init__(self, options: DemoOptions, *, out: Out) -> None:
        self.options = options
        self.out = out
        self.url = ""
        self.anvil: Anvil | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.scanner: ScanLoop | None = None

    def run(self) -> None:
        """Start, serve until Ctrl-C, SIGTERM or SIGHUP (or a part dies: DemoError), stop."""
        main = threading.current_thread() is threading.main_thread()
        stops = (signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, _interrupt) for sig in stops} if main else {}
        try:
            self.start()
            self.serve()
        except KeyboardInterrupt:
            self.out("Interrupted: stopping the scanner, the web server and anvil ...")
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        if settings.PRODUCTION:
            raise DemoError("The demo never runs in production (NEXORA_ENV=production).")
        port, anvil_port = self._ports()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per node request drowns the scan log
        self.out("Migrating the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        self.url = f"http://{self.options.host}:{port}/"
        self.server = self._server_spawn(port)  # it boots while the chain is prepared
        self.anvil = self._anvil_start(anvil_port)
        token = self._token_deploy(self.anvil)
        logins = self._data_setup(self.anvil.url, token)
        self._server_wait(self.server)
        self.scanner = ScanLoop(interval=self.options.scan_interval, out=self.out)
        self.scanner.start()
        self._announce(logins, token)

    def _ports(self) -> tuple[int, int]:
        host, web, chain = self.options.host, self.options.port, self.options.anvil_port
        web = web or free_port(host)
        chain = chain or free_port("127.0.0.1")
        if web == chain:
            raise DemoError(f"The web server and anvil cannot both use port {web}.")
        for what, where, port, flag in (("the web server", host, web, "PORT"),
                                        ("anvil", "127.0.0.1", chain, "ANVIL_PORT")):  # fmt: skip
            if port_in_use(where, port):
                raise DemoError(
                    f"Port {port} on {where} is already in use, so {what} cannot listen there. Stop the "
                    f"process using it (`ss -ltnp 'sport = :{port}'` shows it) or pick another port: "
                    f"make run {flag}={port + 1}"
                )
        return web, chain

    def _anvil_start(self, port: int) -> Anvil:
        log_path = self.options.log_dir / "anvil.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)  # a new chain: last run's log would only confuse
        block_time = self.options.block_time
        anvil = Anvil(port=port, block_time=block_time, log_path=log_path, own_process_group=True)
        self.anvil = anvil  # stop() must find it even if start() fails half-way
        anvil.start()
        self.out(f"anvil: {anvil.url} (chain {anvil.expected_chain_id}, a block every "
                 f"{self.options.block_time} s, log {log_path})")  # fmt: skip
        return anvil

    def _token_deploy(self, anvil: Anvil) -> str:
        wallet = anvil.accounts[0]
        token = anvil.deploy("TetherToken", sender=wallet)
        anvil.receipt(anvil.token_mint(token, wallet, DEMO_USDT_SUPPLY, sender=wallet))
        return token

    def _data_setup(self, node_url: str, token: str) -> list[DemoLogin]:
        logins = demo_setup(node_url=node_url, token_contract=token)
        for network in Network.objects.filter(code__in=[e["code"] for e in devnet_entries()]):
            dropped = devnet_scan_reset(network=network)
            if dropped:
                self.out(f"{network.code}: {dropped} payment(s) unconfirmed on the last run's chain dropped")
        return logins

    def _server_spawn(self, port: int) -> subprocess.Popen[bytes]:
        """``runserver`` without its reloader (one process to stop) and without the system checks
        this command has just run."""
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "runserver", "--noreload",
                   "--skip-checks", f"{self.options.host}:{port}"]  # fmt: skip
        return subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
            command,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=die_with_parent(),  # no thread of ours runs yet: the scanner starts last
        )

    def _server_wait(self, server: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise DemoError(f"The web server exited during startup (code {server.returncode}).")
            try:
                httpx.get(f"{self.url}accounts/login/", timeout=2.0)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise DemoError(f"The web server did not answer at {self.url} within {SERVER_START_TIMEOUT_S:.0f} s.")

    def _announce(self, logins: list[DemoLogin], token: str) -> None:
        assert self.anvil is not None
        lines = [
            f"Demo logins (password for all: {DEMO_PASSWORD}):",
            *(f"  {login.username:<8} {login.role}" for login in logins),
            f"Billing API key (Authorization: Api-Key ...): {DEMO_BILLING_KEY}",
            f"Devnet wallet {self.anvil.accounts[0]}: 10000 ETH and 1000000 USDT (token {token}).",
            'Pay a top-up from its page ("Pay from the devnet wallet") or with '
            "`python manage.py devnet_pay TOPUP_ID [--amount X]`.",
            f"Nexora demo is running at {self.url} (API docs {self.url}api/docs/, admin {self.url}admin/)",
            "Press Ctrl-C to stop everything.",
        ]
        for line in lines:
            self.out(line)

    # -- serve and stop ------------------------------------------------------------------------

    def serve(self, poll_s: float = 0.5) -> None:
        """Block until interrupted; a part that dies ends the demo with a DemoError naming it."""
        assert self.anvil is not None and self.server is not None and self.scanner is not None
        log_path = self.options.log_dir / "anvil.log"
        while True:
            if not self.anvil.running:
                raise DemoError(f"anvil stopped unexpectedly; see {log_path}.")
            if self.server.poll() is not None:
                raise DemoError(f"The web server stopped unexpectedly (code {self.server.returncode}).")
            if not self.scanner.is_alive():
                raise DemoError("The scanner thread stopped unexpectedly.")
            time.sleep(poll_s)

    def stop(self) -> None:
        """Stop the scanner, the web server and anvil, in that order. Idempotent; a second Ctrl-C
        during the few seconds this takes is ignored so the children are never abandoned."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            stopped: list[str] = []
            if self.scanner is not None:
                self.scanner.stop()
                self.scanner = None
                stopped.append("scanner")
            if self.server is not None:
                process_stop(self.server)
                self.server = None
                stopped.append("web server")
            if self.anvil is not None:
                self.anvil.stop()
                self.anvil = None
                stopped.append("anvil")
            if stopped:
                self.out(f"Stopped: {', '.join(stopped)}.")
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
