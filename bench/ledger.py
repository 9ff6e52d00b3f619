"""Ledger posting benchmark: charges through the full service path on PostgreSQL, one process.

Creates a fresh database (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/nexora_bench),
migrates it, funds ``CLIENTS`` clients, then posts ``CHARGES`` charges round-robin with
``charge_create`` (profile row lock, screening hook, ledger transaction with two entries, running
balances, status audit row, deferred balance triggers at commit) and times each one.

Last line of output: {"postings_per_s", "p50_ms", "p99_ms", "charges", "clients"}.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexora_bench")
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("NEXORA_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")
CLIENTS = int(os.environ.get("CLIENTS", "200"))
CHARGES = int(os.environ.get("CHARGES", "5000"))


def main() -> None:
    from bench.common import recreate_database

    recreate_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from nexora.accounts.services import client_create
    from payments.services.charges import charge_create
    from payments.services.ledger import ledger_credit

    clients = [client_create(username=f"bench{i}") for i in range(CLIENTS)]
    for c in clients:
        ledger_credit(client=c, amount=Decimal("1000000.00"), idempotency_key=f"fund:{c.pk}")
    latencies = []
    started = time.perf_counter()
    for i in range(CHARGES):
        t0 = time.perf_counter()
        charge_create(
            client_id=clients[i % CLIENTS].pk,
            amount=Decimal("1.25"),
            currency="USD",
            description="bench",
            idempotency_key=f"bench-{i}",
        )
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(
        json.dumps(
            {
                "postings_per_s": round(CHARGES / elapsed, 1),
                "p50_ms": round(statistics.median(latencies), 3),
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 3),
                "charges": CHARGES,
                "clients": CLIENTS,
            }
        )
    )


if __name__ == "__main__":
    main()
