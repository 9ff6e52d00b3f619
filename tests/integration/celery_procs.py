"""Real Celery processes for integration tests: ``celery -A nexora worker`` and ``celery -A nexora beat``
as subprocesses on Redis and on the test's own PostgreSQL database.

Design:

* ``CeleryProcesses(database_url, redis_url, log_dir)`` starts each process with the same
  interpreter (``python -m celery``) in its own session (process group), with ``DATABASE_URL``
  naming the test database (pytest-django's ``test_<name>``), ``CELERY_TASK_ALWAYS_EAGER=false``
  and a short beat interval (``NEXORA_SCAN_DUE_S``). Workers run the production pool (prefork)
  and consume the ``celery`` and ``chain`` queues; each logs to its own file.
* ``worker(name)`` waits until the worker says it is ready; ``kill(name)`` sends SIGKILL to its
  whole process group (the parent and its pool children die together, as when a machine or a
  container dies); ``stop()`` sends SIGTERM to every group still running, then SIGKILL after a
  grace period. The class is a context manager, so every process is stopped also when a test
  fails, and an ``atexit`` hook covers a test run that dies.
* ``purge()`` deletes the broker's queues and its unacknowledged-message bookkeeping, so messages
  left by an earlier run (a killed worker's) never reach this one's workers.
* ``log_tail(name)`` is for assertion messages: what a process said before things went wrong.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


class CeleryProcesses:
    def __init__(self, *, database_url: str, redis_url: str, log_dir: Path, scan_due_s: float = 0.5) -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "NEXORA_ENV": "test",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "NEXORA_SCAN_DUE_S": str(scan_due_s),
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        atexit.register(self.stop)

    def __enter__(self) -> Self:
        self.purge()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.purge()

    # -- processes ---------------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _spawn(self, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
        with self._log(name).open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "nexora", *arguments],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def worker(self, name: str, *, concurrency: int = 2) -> subprocess.Popen[bytes]:
        """Start a worker on both queues and wait until it is ready to take tasks."""
        arguments = ["worker", "-Q", "celery,chain", "-c", str(concurrency), "-n", f"{name}@%h", "-l", "INFO",
                     "--without-mingle", "--without-gossip", "--without-heartbeat"]  # fmt: skip
        start = self._log(name).stat().st_size if self._log(name).exists() else 0
        process = self._spawn(name, arguments)
        self._wait_for(name, "ready.", start)
        return process

    def beat(self) -> subprocess.Popen[bytes]:
        schedule, pidfile = self.log_dir / "beat-schedule", self.log_dir / "beat.pid"
        process = self._spawn("beat", ["beat", "-s", str(schedule), "--pidfile", str(pidfile), "-l", "INFO"])
        self._wait_for("beat", "beat: Starting...", 0)
        return process

    def _wait_for(self, name: str, text: str, offset: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")
            if text in self._log(name).read_text(errors="replace")[offset:]:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not say {text!r} within {READY_TIMEOUT_S} s:\n{self.log_tail(name)}")

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children, as a crash would."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE_S)

    def stop(self) -> None:
        """SIGTERM every process group still running, SIGKILL what is left after the grace period."""
        running = {name: p for name, p in self.processes.items() if p.poll() is None}
        for process in running.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=STOP_GRACE_S)
        for process in self.processes.values():
            _signal_group(process, signal.SIGKILL)  # pool children that outlived their parent
        self.processes.clear()
        atexit.unregister(self.stop)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self._log(name)
        text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no log)"]
        return "\n".join(text[-lines:])

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.stem}\n{self.log_tail(path.stem)}" for path in sorted(self.log_dir.glob("*.log"))
        )

    # -- broker --------------------------------------------------------------------------------

    def purge(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = [
                key
                for pattern in ("celery*", "chain*", "unacked*")
                for key in client.scan_iter(match=pattern)
            ]
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, sig)
