"""What a ``/metrics`` scrape costs on a large PostgreSQL database, and what counting a request costs.

Creates a fresh database (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/nexora_bench),
migrates it, and bulk-inserts (no services: the row counts are the point, not the flows)
``TOPUPS`` top-ups with their addresses on three networks, one deposit per top-up (80 % credited),
``ASSESSMENTS`` assessments, ``CASES`` cases of ``CLIENTS`` clients (one open per client, the rest
closed) and ``DELIVERIES`` notifications with one delivery each. ``ANALYZE`` runs after seeding, as
autovacuum would.

Then, each median of ``ROUNDS`` calls: every database collector alone, the whole scrape
(``metrics_render``: every registered collector, Redis queue lengths included when ``REDIS_URL`` is
set), and ``request_count`` per request in the per-process mode and in the multiprocess mode
(memory-mapped files), plus reading three workers' files.

Last line of output: one JSON object with the timings.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexora_bench")
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("NEXORA_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")
TOPUPS = int(os.environ.get("TOPUPS", "200000"))
ASSESSMENTS = int(os.environ.get("ASSESSMENTS", "300000"))
CASES = int(os.environ.get("CASES", "20000"))
CLIENTS = int(os.environ.get("CLIENTS", "1000"))
DELIVERIES = int(os.environ.get("DELIVERIES", "200000"))
ROUNDS = int(os.environ.get("ROUNDS", "21"))
BATCH = 5000
NETWORKS = [
    {"code": "usdt-erc20", "name": "USDT (Ethereum)", "family": "evm", "chain_id": 1, "asset": "USDT",
     "token_contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6, "confirmations": 3,
     "min_amount": "1"},
    {"code": "usdt-trc20", "name": "USDT (TRON)", "family": "tron", "asset": "USDT",
     "token_contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "decimals": 6, "confirmations": 19,
     "min_amount": "1"},
    {"code": "eth", "name": "Ether", "family": "evm", "chain_id": 1, "asset": "ETH", "decimals": 18,
     "confirmations": 3, "min_amount": "0.001"},
]  # fmt: skip
XPUB = "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"  # noqa: E501
TRON_XPUB = "xpub6D1AabNHCupeiLM65ZR9UStMhJ1vCpyV4XbZdyhMZBiJXALQtmn9p42VTQckoHVn8WNqS7dqnJokZHAHcHGoaQgmv8D45oNUKx6DZMNZBCd"  # noqa: E501


def batched(model: Any, rows: Any) -> list[Any]:
    made, batch = [], []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            made += model.objects.bulk_create(batch)
            batch = []
    return made + model.objects.bulk_create(batch)


def seed_payments(clients: list[Any]) -> None:
    from django.utils import timezone

    from payments.models import Deposit, DepositAddress, Network, TopUp
    from payments.services.networks import networks_load

    networks_load(entries=[{**n, "xpub": TRON_XPUB if n["family"] == "tron" else XPUB} for n in NETWORKS])
    networks = list(Network.objects.order_by("code"))
    now = timezone.now()
    addresses = batched(DepositAddress, (
        DepositAddress(family=networks[i % 3].family, address=f"bench-{i}", key_fingerprint="bench", index=i,
                       network=networks[i % 3], client=clients[i % len(clients)])
        for i in range(TOPUPS)
    ))  # fmt: skip
    statuses = ["completed"] * 6 + ["awaiting_payment", "confirming", "expired", "invalid"]
    topups = batched(TopUp, (
        TopUp(client_id=a.client_id, network_id=a.network_id, address=a, amount=Decimal("25.00"),
              currency="USD", rate=Decimal(1), rate_sources="static", crypto_amount=25_000_000,
              status=statuses[i % 10], expires_at=now, monitor_until=now)
        for i, a in enumerate(addresses)
    ))  # fmt: skip
    batched(Deposit, (
        Deposit(network_id=t.network_id, tx_hash=f"0x{i:064x}", index=0, address_id=t.address_id,
                client_id=t.client_id, topup=t, amount=25_000_000, seen_at=now,
                status="credited" if i % 5 else "pending",
                credited_amount=Decimal("25.00") if i % 5 else None, credited_at=now if i % 5 else None)
        for i, t in enumerate(topups)
    ))  # fmt: skip


def seed_aml(clients: list[Any]) -> None:
    from django.utils import timezone

    from aml.cases.models import Case
    from aml.models import Assessment
    from aml.rulesets import ruleset_published

    ruleset = ruleset_published()  # version 1, seeded by the migrations
    decisions = ["allow"] * 8 + ["review", "freeze"]
    subjects = ["deposit", "deposit", "charge", "payout", "account_change"]
    batched(Assessment, (
        Assessment(subject_type=subjects[i % 5], subject_ref=f"bench:{i}", client=clients[i % len(clients)],
                   ruleset=ruleset, score=10, decision=decisions[i % 10], sanctions_hit=i % 97 == 0)
        for i in range(ASSESSMENTS)
    ))  # fmt: skip
    now = timezone.now()
    batched(Case, (
        Case(client=clients[i % len(clients)], status="open" if i < len(clients) else "closed",
             resolution="" if i < len(clients) else "released", band="review" if i % 7 else "freeze",
             closed_at=None if i < len(clients) else now)
        for i in range(CASES)
    ))  # fmt: skip
    Case.objects.filter(status="open").update(opened_at=now - timedelta(hours=30))


def seed_notifications(clients: list[Any]) -> None:
    from aml.notifications.models import Notification, NotificationDelivery

    notes = batched(Notification, (
        Notification(client=clients[i % len(clients)], event="topup_credited", dedupe_key=f"bench:{i}")
        for i in range(DELIVERIES)
    ))  # fmt: skip
    states = ["sent"] * 18 + ["queued", "failed"]
    batched(NotificationDelivery, (
        NotificationDelivery(notification=n, channel="email" if i % 3 else "telegram", status=states[i % 20])
        for i, n in enumerate(notes)
    ))  # fmt: skip


def median_ms(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times[1:]), 2)  # the first call warms caches up


def collector_timings() -> dict[str, float]:
    from aml.cases.metrics import case_metrics
    from aml.metrics import assessment_metrics
    from aml.notifications.metrics import delivery_metrics
    from nexora.common.metrics import metrics_render
    from payments.metrics import deposit_metrics, payout_metrics, topup_metrics

    collectors = {"topups": topup_metrics, "deposits": deposit_metrics, "payouts": payout_metrics,
                  "aml_assessments": assessment_metrics, "aml_cases": case_metrics,
                  "notification_deliveries": delivery_metrics}  # fmt: skip
    result: dict[str, float] = {}
    for name, collect in collectors.items():
        result[f"{name}_ms"] = median_ms(lambda collect=collect: list(collect()))  # type: ignore[misc]
    result["scrape_ms"] = median_ms(metrics_render)
    result["scrape_bytes"] = len(metrics_render())
    return result


PER_ROUND = 20000


def count_requests() -> None:
    from nexora.common.http_metrics import request_count

    for _ in range(PER_ROUND):
        request_count("GET", 200)


def request_count_timings() -> dict[str, float]:
    from nexora.common import http_metrics

    http_metrics.counts_install(http_metrics.LocalCounts())
    local_ms = median_ms(count_requests)
    with tempfile.TemporaryDirectory() as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        http_metrics.counts_install(http_metrics.SharedCounts())
        shared_ms = median_ms(count_requests)
        first = Path(directory, "counter_slot0.db").read_bytes()
        for slot in (1, 2):  # two more workers' files, as on a 3-worker machine
            Path(directory, f"counter_slot{slot}.db").write_bytes(first)
        read_ms = median_ms(lambda: list(http_metrics.http_metrics()))
    return {
        "count_local_us": round(local_ms * 1000 / PER_ROUND, 3),
        "count_multiprocess_us": round(shared_ms * 1000 / PER_ROUND, 3),
        "read_3_workers_ms": read_ms,
    }


def main() -> None:
    from bench.common import recreate_database

    recreate_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from nexora.accounts.services import client_create

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    clients = [client_create(username=f"bench{i}") for i in range(CLIENTS)]
    seed_payments(clients)
    seed_aml(clients)
    seed_notifications(clients)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seed_s = round(time.perf_counter() - started, 1)
    result = {"topups": TOPUPS, "deposits": TOPUPS, "assessments": ASSESSMENTS, "cases": CASES,
              "open_cases": CLIENTS, "deliveries": DELIVERIES, "seed_s": seed_s}  # fmt: skip
    result.update(collector_timings())
    result.update(request_count_timings())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
