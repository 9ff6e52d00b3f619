"""``manage.py demo_run`` (what ``make run`` calls): the whole demo as a newcomer would run it.

The smoke test starts the command as a subprocess on free ports with a temporary SQLite file (the
dev profile, no Redis: the embedded defaults), logs in, creates a top-up through the API, pays it
with ``devnet_pay`` (another subprocess, as a person would in a second terminal) and watches the
API until the scanner thread has credited it. Then SIGINT, as Ctrl-C sends: the command must exit
0 and leave no process behind (anvil and the web server found in ``/proc`` while it ran must be
gone) and both ports free. Refusals (production, a taken port) run in-process: they start nothing.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command

from payments.devnet import free_port, port_in_use

ROOT = Path(__file__).resolve().parent.parent
READY = "Nexora demo is running at "


def _parent_of(stat: str) -> int:
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(_parent_of((entry / "stat").read_text()), []).append(int(entry.name))
            except OSError:  # it exited while we looked
                continue
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie has exited: only its exit status is left)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Output:
    """The demo's output, read by a thread so the pipe never fills; ``wait_for`` a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(
            f"no line matching {pattern!r} within {timeout} s:\n" + "\n".join(self.lines[-40:])
        )

    def drain(self, timeout: float = 2.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.lines.append(self._queue.get(timeout=0.1))
            except queue.Empty:
                break
        return "\n".join(self.lines)


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    dropped = {"PYTEST_VERSION", "PYTEST_XDIST_WORKER", "REDIS_URL", "DATABASE_URL", "NEXORA_ENV", "DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "NEXORA_ENV": "dev", "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}


@pytest.fixture
def demo(
    tmp_path: Path, demo_env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[str], Output, int, int]]:
    web, chain = free_port(), free_port()
    command = [sys.executable, "manage.py", "demo_run", "--port", str(web), "--anvil-port", str(chain),
               "--log-dir", str(tmp_path / "devnet")]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=demo_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    started: set[int] = set()
    try:
        yield process, Output(process), web, chain
    finally:
        if process.poll() is None:  # a failed test must not leave the demo running
            started = descendants(process.pid)
            process.kill()
            process.wait(10)
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def log_in(web: int) -> httpx.Client:
    session = httpx.Client(base_url=f"http://127.0.0.1:{web}", timeout=10)
    session.get("/accounts/login/")
    form = {
        "username": "client",
        "password": "nexora-demo-1",
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
    }
    assert session.post("/accounts/login/", data=form).status_code == 302
    return session


def watch(session: httpx.Client, topup_id: str, until: str, timeout: float) -> list[str]:
    """Poll the top-up until it reaches ``until``; every distinct status seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = session.get(f"/api/v1/topups/{topup_id}/").json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == until:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"the top-up never reached {until!r}; seen {seen}")


@pytest.mark.anvil
def test_the_demo_runs_a_payment_end_to_end_and_ctrl_c_stops_everything(demo, demo_env):
    process, output, web, chain = demo
    url = output.wait_for(READY + r"(\S+)", timeout=120)[1]
    assert url == f"http://127.0.0.1:{web}/"
    started = descendants(process.pid)
    lines = [command_line(pid) for pid in started]
    assert any("anvil" in line and f"--port {chain}" in line and "--block-time 1" in line for line in lines)
    assert any(f"runserver --noreload --skip-checks 127.0.0.1:{web}" in line for line in lines)

    session = log_in(web)
    created = session.post("/api/v1/topups/", json={"network": "eth-devnet", "amount": "30.00"},
                           headers={"X-CSRFToken": session.cookies["csrftoken"]})  # fmt: skip
    assert created.status_code == 201, created.text
    topup = created.json()
    assert (topup["status"], topup["crypto_amount"], topup["required_confirmations"]) == (
        "awaiting_payment",
        "0.01",
        10,
    )
    paid = subprocess.run([sys.executable, "manage.py", "devnet_pay", topup["id"]], cwd=ROOT, env=demo_env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert paid.returncode == 0, paid.stderr
    assert paid.stdout.startswith(
        f"Sent 0.01 ETH from 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 to {topup['address']} "
    )

    seen = watch(session, topup["id"], "completed", timeout=40)  # the scanner may have seen it already
    assert seen in (["awaiting_payment", "confirming", "completed"], ["confirming", "completed"])
    assert session.get("/api/v1/balance/").json()["available"] == "130.00"  # 100.00 opening balance + 30.00

    # The README's risky one: a new account overpays a top-up with 1,500 USDT; the AML engine holds
    # it for a human (the client sees only "under review"); the account stays usable meanwhile.
    risky = session.post("/api/v1/topups/", json={"network": "usdt-devnet", "amount": "900.00"},
                         headers={"X-CSRFToken": session.cookies["csrftoken"]}).json()  # fmt: skip
    pay = [sys.executable, "manage.py", "devnet_pay", risky["id"], "--amount", "1500"]
    paid = subprocess.run(
        pay, cwd=ROOT, env=demo_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert paid.returncode == 0, paid.stderr
    watch(session, risky["id"], "completed", timeout=40)
    detail = session.get(f"/api/v1/topups/{risky['id']}/").json()
    assert [detail["exception"], detail["under_review"], detail["credited_amount"]] == [
        "overpaid",
        True,
        "1500.00",
    ]
    assert session.get("/api/v1/balance/").json() == {
        "currency": "USD", "available": "130.00", "held": "1500.00", "account_status": "active",
    }  # fmt: skip
    session.close()

    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    text = output.drain()
    assert "Stopped: scanner, web server, anvil." in text
    assert re.search(r"scan: eth-devnet #\d+ \+\d+, 1 transfer\(s\)", text)
    assert re.search(r"usdt-devnet #\d+ \+\d+, 1 transfer\(s\)", text)
    assert [pid for pid in started if alive(pid)] == []
    assert not port_in_use("127.0.0.1", web) and not port_in_use("127.0.0.1", chain)


# --- refusals: nothing is started ---------------------------------------------------------------


def test_refused_in_production(settings):
    settings.PRODUCTION = True
    before = descendants(os.getpid())
    with pytest.raises(
        CommandError, match=r"^The demo never runs in production \(NEXORA_ENV=production\)\.$"
    ):
        call_command("demo_run", "--port", "0", "--anvil-port", "0")
    assert descendants(os.getpid()) == before


@pytest.mark.parametrize(("flag", "what", "variable"), [("--port", "the web server", "PORT"),
                                                       ("--anvil-port", "anvil", "ANVIL_PORT")])  # fmt: skip
def test_a_taken_port_is_named_with_how_to_choose_another(flag, what, variable):
    before = descendants(os.getpid())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--anvil-port": "0", flag: str(port)}
        with pytest.raises(CommandError) as caught:
            call_command("demo_run", *(item for pair in ports.items() for item in pair))
    message = str(caught.value)
    assert message.startswith(f"Port {port} on 127.0.0.1 is already in use, so {what} cannot listen there.")
    assert message.endswith(f"make run {variable}={port + 1}")
    assert descendants(os.getpid()) == before


def test_the_two_ports_must_differ():
    with pytest.raises(CommandError, match=r"^The web server and anvil cannot both use port 18999\.$"):
        call_command("demo_run", "--port", "18999", "--anvil-port", "18999")


# --- the devnet wallet setting ------------------------------------------------------------------

PROBE = (
    "import django; django.setup(); from django.conf import settings; print(settings.NEXORA_DEVNET_WALLET)"
)
PRODUCTION_ENV = {"NEXORA_ENV": "production", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "pay.example.com",
                  "DATABASE_URL": "postgres://u@db/nexora"}  # fmt: skip


def settings_probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    dropped = {
        "PYTEST_VERSION",
        "NEXORA_ENV",
        "NEXORA_DEVNET_WALLET",
        "DATABASE_URL",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
    }
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    env = {**base, "DJANGO_SETTINGS_MODULE": "nexora.settings", **env}
    command = [sys.executable, "-c", PROBE]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env, check=False)


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "True"), ({"NEXORA_DEVNET_WALLET": "off"}, "False"), (PRODUCTION_ENV, "False")],
)
def test_the_devnet_wallet_is_on_in_dev_and_off_in_production(env, expected):
    result = settings_probe(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_production_refuses_the_devnet_wallet():
    result = settings_probe({**PRODUCTION_ENV, "NEXORA_DEVNET_WALLET": "on"})
    assert result.returncode != 0
    assert "NEXORA_DEVNET_WALLET cannot be on when NEXORA_ENV=production" in result.stderr
