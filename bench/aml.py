"""AML engine benchmark: score 10,000 new deposits against 1,000,000 historical ones, from one process.

Creates a fresh database (``BENCH_DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/nexora_a_bench), migrates it, imports the shared OFAC per-asset
lists (so rules 1 and 2 really screen), and bulk-loads with server-side multi-row ``INSERT ...
SELECT generate_series`` (seeded, so every run loads the same data):

* ``CLIENTS`` (10,000) clients, opened 30 to 730 days ago, a tenth of them verified ``basic``;
* ``HISTORY`` (1,000,000) credited deposits spread over the last 365 days (100 per client, ~25
  inside the 91-day window), amounts mostly 5-60 USD, some up to 990 (within the KYC limits, as
  a client could have paid); each client pays from one of its own two addresses, one deposit in
  ten from a pool of 200 shared "exchange" addresses; a few charges per client;
* one open top-up per scored deposit (the quote rule 13 compares with).

Then it builds ``SCORED`` (10,000) ``DepositConfirmed`` facts for random clients (80 % from the
client's own address, 15 % a new one, 5 % an exchange address; 20 of them from OFAC-listed
addresses) and calls the engine's screener for each one exactly as payments' deposit service
does: inside a transaction of its own (a savepoint inside it, the history statement, the
assessment with its outcomes, and for a hold the case, and for a freeze the account), committed
per deposit. ``p50_ms`` / ``p99_ms`` time each deposit's whole transaction, COMMIT included (the
COMMIT is the deposit service's, which also posts the ledger; it waits for the disk);
``engine_p50_ms`` / ``engine_p99_ms`` time the screener call alone. ``assessments_per_s`` is the
whole run's throughput. A warm-up of ``WARMUP`` (200) other facts comes first (per-process caches:
the rule set, the lists' snapshot, the prepared statements). ``THREADS`` (default 1) workers, each
with its own connection, share the deposits inside this one process.

Last line: ``{"assessments_per_s", "p50_ms", "p99_ms", "history_rows", ...}`` with the decisions,
the SQL statements per assessment, the load time and the machine's load average (other work on the
two cores changes every number). Not a test: run ``python bench/aml.py``.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexora_a_bench")
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("NEXORA_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")
os.environ.pop("REDIS_URL", None)  # tasks in-process; nothing here queues work
DATA_DIR = Path(os.environ.get("NEXORA_SANCTIONS_DATA", ROOT.parent / "shared" / "data" / "sanctions"))
CLIENTS = int(os.environ.get("CLIENTS", "10000"))
HISTORY = int(os.environ.get("HISTORY", "1000000"))
SCORED = int(os.environ.get("SCORED", "10000"))
WARMUP = int(os.environ.get("WARMUP", "200"))
THREADS = int(os.environ.get("THREADS", "1"))
XPUB = (  # m/44'/60'/0' of the public test phrase "abandon ... about" (as in tests/conftest.py)
    "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"
)
USDT = 10**6


# Every client's own two source addresses, and the shared pool, as SQL expressions of an integer.
OWN = "'0x' || lpad(to_hex({c} * 2 + {k}), 40, '0')"
POOL = "'0xee' || lpad(to_hex({p}), 38, '0')"
CLIENT_OF = f"1 + mod(i, {CLIENTS})"
# Built from the constants above only (no input): hence the S608 waivers.
LOAD_SQL = [
    "SELECT setseed(0.42)",
    f"""INSERT INTO accounts_user (id, password, is_superuser, username, first_name, last_name,
            is_staff, is_active, date_joined, email)
        SELECT c, '!', false, 'bench' || c, '', '', false, true, now(), ''
        FROM generate_series(1, {CLIENTS}) c""",  # noqa: S608
    f"""INSERT INTO accounts_clientprofile (id, user_id, currency, language, telegram_chat_id,
            notify_email, notify_telegram, status, created_at, updated_at)
        SELECT c, c, 'USD', 'en', '', true, false, 'active',
               now() - (30 + random() * 700) * interval '1 day', now()
        FROM generate_series(1, {CLIENTS}) c""",  # noqa: S608
    f"""INSERT INTO aml_clientverification (client_id, level, updated_at)
        SELECT c, 'basic', now() FROM generate_series(1, {CLIENTS}) c WHERE mod(c, 10) = 0""",  # noqa: S608
    f"""INSERT INTO payments_depositaddress (id, family, address, key_fingerprint, index, network_id,
            client_id, created_at)
        SELECT c, 'evm', '0xbe' || lpad(to_hex(c), 38, '0'), 'bench', c, %(network)s, c, now()
        FROM generate_series(1, {CLIENTS}) c""",  # noqa: S608
    f"""INSERT INTO payments_deposit (tx_hash, index, sender, amount, block_hash, confirmations, status,
            unapplied_reason, seen_at, late, credited_amount, confirmed_at, credited_at, created_at,
            updated_at, client_id, address_id, network_id)
        SELECT '0x' || lpad(to_hex(i), 64, '0'), 0, sender, (value * {USDT})::numeric(78,0), '', 12,
               'credited', '', at, false, value, at, at, at, at, client, client, %(network)s
        FROM (
            SELECT i, {CLIENT_OF} AS client, now() - random() * interval '365 days' AS at,
                   CASE WHEN random() < 0.1 THEN {POOL.format(p="(random() * 200)::int")}
                        ELSE {OWN.format(c=f"({CLIENT_OF})", k="(random() < 0.3)::int")} END AS sender,
                   round((CASE WHEN random() < 0.03 THEN 300 + random() * 690
                               WHEN random() < 0.15 THEN 60 + random() * 240
                               ELSE 5 + random() * 55 END)::numeric, 2) AS value
            FROM generate_series(1, {HISTORY}) i
        ) AS d""",  # noqa: S608
    # A few charges per client over the year (held ones need no ledger transaction; the history reads both).
    f"""INSERT INTO payments_charge (client_id, amount, currency, description, order_ref,
            idempotency_key, status, created_at, updated_at)
        SELECT {CLIENT_OF}, round((5 + random() * 45)::numeric, 2), 'USD', 'VPS', '', 'bench-' || i,
               'pending_review', at, at
        FROM (SELECT i, now() - random() * interval '365 days' AS at
              FROM generate_series(1, {CLIENTS * 3}) i) AS c""",  # noqa: S608
]


def load(network_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in LOAD_SQL:
            cursor.execute(sql, {"network": network_id})
        for table in ("accounts_user", "accounts_clientprofile", "payments_depositaddress"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
        cursor.execute("ANALYZE")


def settle() -> None:
    """Steady state before timing: freshly bulk-loaded tables would otherwise be vacuumed (and
    their hint bits set) by autovacuum while the deposits are being scored."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def topups(network: Any, rng: random.Random) -> list[Any]:
    """One open top-up per deposit to score, for a random client: 90 % of 10-200 USD, the rest up to 990."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.models import DepositAddress, TopUp

    now = timezone.now()
    clients = [rng.randint(1, CLIENTS) for _ in range(SCORED + WARMUP)]
    addresses = DepositAddress.objects.bulk_create(
        DepositAddress(family="evm", address=f"0xbf{n:038x}", key_fingerprint="bench", index=CLIENTS + 1 + n,
                       network=network, client_id=client)
        for n, client in enumerate(clients)
    )  # fmt: skip
    values = [Decimal(rng.randint(1000, 20000) if rng.random() < 0.9 else rng.randint(20000, 99000)) / 100
              for _ in addresses]  # fmt: skip
    return TopUp.objects.bulk_create(
        TopUp(client_id=a.client_id, network=network, address=a, amount=value, currency="USD",
              rate=Decimal(1), rate_sources="static", crypto_amount=int(value * USDT),
              expires_at=now + timedelta(minutes=30), monitor_until=now + timedelta(days=7))
        for a, value in zip(addresses, values, strict=True)
    )  # fmt: skip


def facts(rng: random.Random, topups_: list[Any], listed: list[str]) -> list[Any]:
    from payments.hooks import DepositConfirmed

    out = []
    for n, topup in enumerate(topups_):
        roll = rng.random()
        client = topup.client_id
        if n % (len(topups_) // 20 or 1) == 0 and listed:
            sender = rng.choice(listed)
        elif roll < 0.80:
            sender = f"0x{client * 2 + (rng.random() < 0.3):040x}"
        elif roll < 0.95:
            sender = f"0xaa{rng.getrandbits(152):038x}"
        else:
            sender = f"0xee{rng.randint(0, 200):038x}"
        # 90 % pay the quote exactly, the rest send 80 % of it (worth 80 % of the amount)
        units = topup.crypto_amount if rng.random() < 0.9 else topup.crypto_amount * 8 // 10
        value = (Decimal(units) / USDT).quantize(Decimal("0.01"))
        out.append(DepositConfirmed(
            deposit_id=10**9 + n, client_id=client, topup_id=topup.pk, network="usdt-erc20",
            tx_hash=f"0x{n:064x}", sender=sender, units=units, amount=value, currency="USD",
            late=rng.random() < 0.05,
        ))  # fmt: skip
    return out


def setup(rng: random.Random) -> tuple[list[Any], list[Any], float]:
    import django
    from django.core.management import call_command

    django.setup()
    from aml.sanctions.models import SanctionedAddress
    from aml.sanctions.services import sanctions_import_run
    from payments.services.networks import networks_load

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    networks_load(entries=[{
        "code": "usdt-erc20", "name": "USDT (Ethereum)", "family": "evm", "chain_id": 1, "asset": "USDT",
        "token_contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6, "confirmations": 3,
        "min_amount": "1", "xpub": XPUB,
    }])  # fmt: skip
    from django.db import connection

    from payments.models import Network

    network = Network.objects.get(code="usdt-erc20")
    sanctions_import_run(paths=sorted(DATA_DIR.glob("sanctioned_addresses_*.txt")), actor_label="bench")
    load(network.pk)
    opened = topups(network, rng)
    listed = list(SanctionedAddress.objects.filter(family="evm").values_list("address", flat=True)[:50])
    all_facts = facts(rng, opened, listed)
    settle()
    connection.close()  # score on a fresh session, as a worker would (not the one that bulk-loaded)
    return all_facts[:WARMUP], all_facts[WARMUP:], time.perf_counter() - started


Timing = tuple[list[tuple[float, float]], Counter[str], int]


def run_one(batch: list[Any]) -> Timing:
    """Screen ``batch`` on this thread's connection, one transaction per deposit, timing each call."""
    from django.db import connection, transaction

    from aml.screeners import deposit_screener

    statements = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    latencies: list[tuple[float, float]] = []
    verdicts: Counter[str] = Counter()
    with connection.execute_wrapper(count):
        for fact in batch:
            started = time.perf_counter()
            with transaction.atomic():  # the deposit service's transaction
                verdict = deposit_screener(fact)
                screened = time.perf_counter()
            latencies.append((time.perf_counter() - started, screened - started))
            verdicts[verdict.name] += 1
    return latencies, verdicts, statements


def run(batch: list[Any], threads: int) -> Timing:
    """``threads`` workers in this one process (each with its own connection), or just this thread."""
    if threads <= 1:
        return run_one(batch)
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def worker(part: list[Any]) -> Timing:
        try:
            return run_one(part)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(worker, [batch[k::threads] for k in range(threads)]))
    latencies = [x for r in results for x in r[0]]
    return latencies, sum((r[1] for r in results), Counter()), sum(r[2] for r in results)


def fresh_sessions() -> None:
    """After the warm-up: statistics for the engine's tables, and new sessions to score on. The
    foreign-key checks PostgreSQL runs at each COMMIT keep the plan they got when their session
    first ran them; planned against the then empty assessment table it is a sequential scan, and
    every commit would scan the whole growing table (a worker started on an empty database would
    see the same until it reconnects)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE aml_assessment, aml_ruleoutcome, cases_case, cases_caseitem, cases_caseevent")
    connection.close()


def main() -> None:
    from bench.common import recreate_database

    recreate_database(DB_URL)
    rng = random.Random(42)
    warmup, scored, load_s = setup(rng)
    run(warmup, THREADS)
    fresh_sessions()
    started = time.perf_counter()
    latencies, verdicts, statements = run(scored, THREADS)
    elapsed = time.perf_counter() - started
    from aml.models import Assessment
    from payments.models import Deposit

    decisions = Counter(Assessment.objects.values_list("decision", flat=True))
    ms = sorted(total * 1000 for total, _ in latencies)
    engine_ms = sorted(engine * 1000 for _, engine in latencies)
    print(f"loaded in {load_s:.1f} s; scored {len(ms)} deposits in {elapsed:.2f} s", file=sys.stderr)
    print(json.dumps({
        "assessments_per_s": round(len(ms) / elapsed, 1),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 3),
        "history_rows": Deposit.objects.count(),
        "max_ms": round(ms[-1], 3),
        "engine_p50_ms": round(statistics.median(engine_ms), 3),
        "engine_p99_ms": round(engine_ms[int(len(engine_ms) * 0.99) - 1], 3),
        "threads": THREADS,
        "statements_per_assessment": round(statements / len(ms), 2),
        "verdicts": dict(verdicts),
        "decisions_incl_warmup": dict(decisions),
        "clients": CLIENTS,
        "load_s": round(load_s, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
