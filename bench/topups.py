"""Top-up creation benchmark: ``POST /api/v1/topups/`` over HTTP, gunicorn on PostgreSQL.

What it does, in order:

1. recreates a scratch database (``BENCH_DATABASE_URL``, default
   postgres://postgres@127.0.0.1:5432/nexora_bench_topups), migrates it, loads three networks with
   the test watch-only keys (usdt-trc20 on the TRON key; usdt-erc20 and eth share the EVM key, so
   they also share one derivation counter, the contended row) and ``CLIENTS`` clients with API
   tokens;
2. measures ``address_derive`` in-process (``DERIVATIONS`` EVM indexes, key cache warm) while the
   machine is still quiet;
3. starts ``gunicorn nexora.wsgi`` in the production profile (DEBUG off, persistent connections via
   ``DB_CONN_MAX_AGE``, ``NEXORA_TOPUP_MAX_OPEN`` raised so no client is capped);
4. drives it from a separate process (asyncio, HTTP/1.1 keep-alive) in three phases,
   each request a different client and network in turn:

   * warm-up: ``WARMUP`` requests, not timed (imports, key caches, connections in every worker);
   * saturation (closed loop): ``CONCURRENCY`` requests always in flight, ``REQUESTS`` in all.
     Gives ``creations_per_s``. Its latencies are mostly queueing (Little's law: latency =
     concurrency / throughput), reported as ``saturation_p50_ms`` / ``saturation_p99_ms``;
   * target rate (open loop): ``REQUESTS`` requests sent on a fixed schedule of ``RATE`` per
     second whatever the answers, latency counted from the scheduled send time (no coordinated
     omission). Gives ``p50_ms`` / ``p99_ms``: the latency a client sees at that load;

5. asserts every answer was 201, then checks the database: one top-up per request, no address
   issued twice, and per key the indexes are exactly 0..n-1 (no gap, no reuse);
6. stops gunicorn and drops the database, also on failure.

Worker model (``WORKER_CLASS``, ``WORKERS``, ``THREADS``; default gthread, 3 x 2): gthread keeps
HTTP connections alive (sync workers close each one), and a few threads per process overlap one
request's database round trips with another's Python, while one process per core plus one keeps
both cores busy without many threads fighting over each GIL. sync 2-4, gthread 2x2, 2x4, 2x8 and
3x2 were measured; their differences were within this VM's run-to-run spread
(docs/benchmarks.md).

The machine may be shared: each timed phase also reports the server's, PostgreSQL's and the
generator's CPU per request and the share of the machine other processes used
(``*_foreign_cpu_pct``), so a disturbed run is visible as such.

Last line of output: one JSON object; ``creations_per_s`` (saturation), ``p50_ms`` / ``p99_ms`` (at
``RATE``), ``derivations_per_s``, then the details. Run: ``python bench/topups.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexora_bench_topups")
CLIENTS = int(os.environ.get("CLIENTS", "200"))
REQUESTS = int(os.environ.get("REQUESTS", "3000"))
WARMUP = int(os.environ.get("WARMUP", "300"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "32"))
RATE = float(os.environ.get("RATE", "200"))
DERIVATIONS = int(os.environ.get("DERIVATIONS", "20000"))
WORKER_CLASS = os.environ.get("WORKER_CLASS", "gthread")
WORKERS = int(os.environ.get("WORKERS", "3"))
THREADS = int(os.environ.get("THREADS", "2"))
AMOUNT = "50.00"
# The public test keys of tests/conftest.py (m/44'/60'/0' and m/44'/195'/0' of "abandon ... about").
DEVNET_EVM_XPUB = (
    "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrg"
    "jtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"
)
DEVNET_TRON_XPUB = (
    "xpub6D1AabNHCupeiLM65ZR9UStMhJ1vCpyV4XbZdyhMZBiJXALQtmn9p42V"
    "TQckoHVn8WNqS7dqnJokZHAHcHGoaQgmv8D45oNUKx6DZMNZBCd"
)
NETWORK_ENTRIES: list[dict[str, Any]] = [
    {"code": "usdt-trc20", "name": "USDT (TRON, TRC-20)", "family": "tron", "asset": "USDT",
     "token_contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "decimals": 6, "confirmations": 19,
     "min_amount": "1", "xpub": DEVNET_TRON_XPUB},
    {"code": "usdt-erc20", "name": "USDT (Ethereum, ERC-20)", "family": "evm", "chain_id": 1, "asset": "USDT",
     "token_contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6, "confirmations": 3,
     "min_amount": "1", "xpub": DEVNET_EVM_XPUB},
    {"code": "eth", "name": "Ether", "family": "evm", "chain_id": 1, "asset": "ETH", "decimals": 18,
     "confirmations": 3, "min_amount": "0.001", "xpub": DEVNET_EVM_XPUB},
]  # fmt: skip
NETWORKS = tuple(entry["code"] for entry in NETWORK_ENTRIES)


# --- database and data (this process) -------------------------------------------------------------


def _admin_execute(sql: str) -> None:
    import psycopg

    admin_url = DB_URL.rsplit("/", 1)[0]
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _db_name() -> str:
    return DB_URL.rsplit("/", 1)[1]


def recreate_database() -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{_db_name()}" WITH (FORCE)')
    _admin_execute(f'CREATE DATABASE "{_db_name()}"')


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    _admin_execute(f'DROP DATABASE IF EXISTS "{_db_name()}" WITH (FORCE)')


def setup_django() -> None:
    os.environ["DATABASE_URL"] = DB_URL
    os.environ.setdefault("NEXORA_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")
    import django

    django.setup()


def seed() -> list[str]:
    """Migrate, load the networks, create the clients; returns their API tokens."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from nexora.accounts.services import client_create
    from payments.services.networks import networks_load

    call_command("migrate", verbosity=0)
    networks_load(entries=NETWORK_ENTRIES)
    users = [client_create(username=f"bench{i}").user for i in range(CLIENTS)]
    return [Token.objects.create(user=user).key for user in users]


def derivations_per_s(n: int) -> float:
    from payments.derivation import address_derive

    address_derive(family="evm", xpub=DEVNET_EVM_XPUB, index=0)  # parse and cache the key first
    started = time.perf_counter()
    for index in range(n):
        address_derive(family="evm", xpub=DEVNET_EVM_XPUB, index=index)
    return n / (time.perf_counter() - started)


def verify(expected_topups: int) -> dict[str, int]:
    """One top-up per request; every address distinct; per key, indexes exactly 0..n-1."""
    from django.db.models import Count

    from payments.models import DepositAddress, DerivationCounter, TopUp

    duplicates = (
        DepositAddress.objects.values("family", "address").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    gaps = 0
    for counter in DerivationCounter.objects.all():
        indexes = sorted(
            DepositAddress.objects.filter(
                family=counter.family, key_fingerprint=counter.key_fingerprint
            ).values_list("index", flat=True)
        )
        gaps += int(indexes != list(range(counter.next_index)))
    topups = TopUp.objects.count()
    assert topups == expected_topups, f"{topups} top-ups for {expected_topups} requests"
    assert duplicates == 0 and gaps == 0, f"{duplicates} duplicate addresses, {gaps} keys with gaps"
    return {"duplicate_addresses": duplicates, "keys_with_index_gaps": gaps, "topups": topups}


# --- the server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(port: int, token: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/networks/", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (our own server)
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def gunicorn(token: str) -> Iterator[tuple[int, int]]:
    """Run gunicorn on a free port until the block ends; yields the port and the master's pid."""
    port = _free_port()
    env = {
        **os.environ,
        "NEXORA_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": DB_URL,
        "DB_CONN_MAX_AGE": "600",
        "NEXORA_TOPUP_MAX_OPEN": str(10**9),
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "nexora.wsgi",
        f"--bind=127.0.0.1:{port}",
        f"--workers={WORKERS}",
        f"--worker-class={WORKER_CLASS}",
        f"--threads={THREADS}",
        "--keep-alive=30",
        "--backlog=2048",
        "--log-level=warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not _ready(port, token):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not come up")
            time.sleep(0.2)
        yield port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- the load generator (a separate process: it must not share the server's GIL) ------------------
# A minimal HTTP/1.1 client on asyncio streams: one request line, four headers, a Content-Length
# body. httpx cost 2-6 ms of CPU per request here (more with more pooled connections), which on two
# cores is CPU taken from the server; this costs a fraction of that, and the JSON reports it.

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection: *close", re.IGNORECASE)


class _Connection:
    """One persistent connection; reopened when the server closes it (sync workers always do)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(head)
            if length is None:
                raise ConnectionError(f"no Content-Length in {head[:200]!r}")
            content = await reader.readexactly(int(length[1]))
        except BaseException:
            self.close()
            raise
        if _CLOSE.search(head):
            self.close()
        return int(head[9:12]), content

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


@dataclass(frozen=True)
class PhaseResult:
    latencies_ms: list[float]
    statuses: dict[int, int]
    errors: list[str]
    elapsed_s: float
    client_cpu_s: float  # the load generator's own CPU time: it shares the machine with the server


def _plan(tokens: list[str], count: int, offset: int) -> list[tuple[str, bytes]]:
    """Request ``i`` goes to client ``i`` (round robin) on network ``i`` (round robin), shuffled."""
    plan = [
        (tokens[i % len(tokens)], json.dumps({"network": NETWORKS[i % 3], "amount": AMOUNT}).encode())
        for i in range(offset, offset + count)
    ]
    random.Random(offset).shuffle(plan)
    return plan


async def _drive(
    port: int, plan: list[tuple[str, bytes]], concurrency: int, rate: float | None
) -> PhaseResult:
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(concurrency):
        idle.put_nowait(_Connection(port))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []

    async def send(token: str, body: bytes, since: float) -> None:
        connection = await idle.get()
        try:
            code, content = await connection.post("/api/v1/topups/", token, body)
        except (OSError, asyncio.IncompleteReadError) as exc:
            code, content = 0, repr(exc).encode()
        finally:
            idle.put_nowait(connection)
        latencies.append((time.perf_counter() - since) * 1000)
        statuses[code] += 1
        if code != 201 and len(errors) < 5:
            errors.append(content[:300].decode(errors="replace"))

    started, cpu_started = time.perf_counter(), time.process_time()
    if rate is None:  # closed loop: each of ``concurrency`` senders sends again once answered
        queue = iter(plan)

        async def sender() -> None:
            for token, body in queue:
                await send(token, body, time.perf_counter())

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    else:  # open loop: request i is due at started + i / rate, whether earlier ones answered or not
        tasks = []
        for i, (token, body) in enumerate(plan):
            due = started + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(send(token, body, due)))
        await asyncio.gather(*tasks)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    while not idle.empty():
        idle.get_nowait().close()
    return PhaseResult(sorted(latencies), dict(statuses), errors, elapsed, cpu)


def drive(port: int, plan: list[tuple[str, bytes]], concurrency: int, rate: float | None) -> PhaseResult:
    return asyncio.run(_drive(port, plan, concurrency, rate))


def _percentile(sorted_ms: list[float], share: float) -> float:
    return round(sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * share))], 2)


def _check(name: str, result: PhaseResult, expected: int) -> None:
    rate = expected / result.elapsed_s
    print(f"{name}: {expected} requests, {rate:.1f}/s, answers {result.statuses}", file=sys.stderr)
    if result.statuses != {201: expected}:
        raise AssertionError(f"{name}: answers {result.statuses}, expected {expected} x 201: {result.errors}")


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# --- CPU accounting: where the machine's time went during a phase ----------------------------------
# The machine may be shared with other jobs. Each timed phase reports the CPU per request of the
# server (gunicorn), of PostgreSQL (the scratch database's backends plus the shared auxiliary
# processes) and of the generator, and the share of the machine used by everything else
# ("foreign"): a disturbed run shows in the JSON instead of passing for a slow server.

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (user, nice, system, irq, softirq, steal)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # minus idle and iowait


def _our_processes(server_pid: int) -> dict[str, list[int]]:
    """gunicorn's master and workers; PostgreSQL backends of our database and the auxiliary processes."""
    groups: dict[str, list[int]] = {"server": [], "postgres": []}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        pid = int(stat.parent.name)
        try:
            parent = int(_stat_fields(pid)[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if server_pid in (pid, parent):
            groups["server"].append(pid)
        elif cmdline.startswith(b"postgres: ") and (
            _db_name().encode() in cmdline or not re.search(rb"\(\d+\)|\[local\]", cmdline)
        ):
            groups["postgres"].append(pid)
    return groups


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


@dataclass
class CpuMeter:
    """Snapshot CPU counters before a phase; ``report`` gives the per-request split after it."""

    groups: dict[str, list[int]]
    started: dict[str, float]

    @classmethod
    def start(cls, server_pid: int) -> CpuMeter:
        groups = _our_processes(server_pid)
        return cls(groups, cls._snapshot(groups))

    @staticmethod
    def _snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
        return {"machine": _machine_busy_s(), "self": time.process_time()} | {
            name: _cpu_s(pids) for name, pids in groups.items()
        }

    def report(self, name: str, result: PhaseResult, requests: int) -> dict[str, float]:
        used = {k: v - self.started[k] for k, v in self._snapshot(self.groups).items()}
        ours = used["server"] + used["postgres"] + used["self"] + result.client_cpu_s
        capacity = result.elapsed_s * (os.cpu_count() or 1)
        return {
            f"{name}_server_cpu_ms_per_request": round(used["server"] / requests * 1000, 2),
            f"{name}_postgres_cpu_ms_per_request": round(used["postgres"] / requests * 1000, 2),
            f"{name}_generator_cpu_ms_per_request": round(result.client_cpu_s / requests * 1000, 2),
            f"{name}_foreign_cpu_pct": round(max(0.0, used["machine"] - ours) / capacity * 100, 1),
        }


# --- main ---------------------------------------------------------------------------------------


def run(tokens: list[str]) -> dict[str, Any]:
    """Warm-up, saturation, then the target rate, against one gunicorn; every answer must be 201."""
    spawn = get_context("spawn")
    with (
        gunicorn(tokens[0]) as (port, pid),
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as generator,
    ):
        warm = generator.submit(drive, port, _plan(tokens, WARMUP, 0), CONCURRENCY, None).result()
        _check("warm-up", warm, WARMUP)
        meter = CpuMeter.start(pid)
        plan = _plan(tokens, REQUESTS, WARMUP)
        saturation = generator.submit(drive, port, plan, CONCURRENCY, None).result()
        saturation_cpu = meter.report("saturation", saturation, REQUESTS)
        _check("saturation", saturation, REQUESTS)
        meter = CpuMeter.start(pid)
        plan = _plan(tokens, REQUESTS, WARMUP + REQUESTS)
        paced = generator.submit(drive, port, plan, max(CONCURRENCY, 64), RATE).result()
        paced_cpu = meter.report("target_rate", paced, REQUESTS)
        _check("target rate", paced, REQUESTS)
    return {
        "creations_per_s": round(REQUESTS / saturation.elapsed_s, 1),
        "p50_ms": _percentile(paced.latencies_ms, 0.50),
        "p99_ms": _percentile(paced.latencies_ms, 0.99),
        "target_rate_per_s": RATE,
        "achieved_rate_per_s": round(REQUESTS / paced.elapsed_s, 1),
        "saturation_p50_ms": _percentile(saturation.latencies_ms, 0.50),
        "saturation_p99_ms": _percentile(saturation.latencies_ms, 0.99),
        "errors": sum(
            n for phase in (warm, saturation, paced) for code, n in phase.statuses.items() if code != 201
        ),
        **saturation_cpu,
        "target_rate_foreign_cpu_pct": paced_cpu["target_rate_foreign_cpu_pct"],
    }


def main() -> None:
    load_before = _load()
    recreate_database()
    try:
        setup_django()
        tokens = seed()
        derivation_rate = derivations_per_s(DERIVATIONS)  # before the server starts: a quiet machine
        print(f"derivation: {derivation_rate:,.0f} EVM addresses/s", file=sys.stderr)
        measured = run(tokens)
        result = {
            **measured,
            "derivations_per_s": round(derivation_rate),
            # Measured again once the server is gone: a VM slowed by its host shows in both numbers.
            "derivations_per_s_after": round(derivations_per_s(DERIVATIONS)),
            "requests": REQUESTS,
            "concurrency": CONCURRENCY,
            "worker_class": WORKER_CLASS,
            "workers": WORKERS,
            "threads": THREADS,
            "clients": CLIENTS,
            **verify(WARMUP + 2 * REQUESTS),
            "load_1m_before": load_before,
            "load_1m_after": _load(),
        }
    finally:
        drop_database()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
