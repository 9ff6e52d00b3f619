"""Privacy and operations benchmark on PostgreSQL: the retention purge, the client's data export,
and what the new middleware (request id, two-factor, staff session) costs per request.

Creates a fresh database (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/nexora_bench),
migrates it, then:

1. seeds ``EVENTS`` security-log rows spread evenly over the last 24 months for ``CLIENTS`` clients
   (so about half are past the 12-month period) and times the purge's dry run and the real run
   (the append-only trigger checks every deleted row);
2. posts ``CHARGES`` charges for one client through ``charge_create`` and times building its
   export document and rendering it as JSON and CSV;
3. times ``REQUESTS`` token-authenticated ``GET /api/v1/balance/`` through Django's test client with
   the project's middleware, and again without the three guards and the request-id middleware.

Last line of output: one JSON object with the timings.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
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
EVENTS = int(os.environ.get("EVENTS", "200000"))
CLIENTS = int(os.environ.get("CLIENTS", "1000"))
CHARGES = int(os.environ.get("CHARGES", "5000"))
REQUESTS = int(os.environ.get("REQUESTS", "2000"))
ADDED_MIDDLEWARE = {
    "nexora.common.middleware.RequestIdMiddleware",
    "nexora.common.health.HealthMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "nexora.accounts.middleware.StaffSessionMiddleware",
    "nexora.accounts.middleware.TwoFactorMiddleware",
}


def seed_events(clients: list[Any]) -> None:
    from django.utils import timezone

    from nexora.accounts.models import SecurityEvent

    now, span = timezone.now(), timedelta(days=730)
    batch = []
    for i in range(EVENTS):
        user = clients[i % len(clients)].user
        batch.append(SecurityEvent(user=user, kind="login_succeeded", ip="203.0.113.1",
                                   user_agent="bench", created_at=now - span * (i / EVENTS)))  # fmt: skip
        if len(batch) == 5000:
            SecurityEvent.objects.bulk_create(batch)
            batch = []
    SecurityEvent.objects.bulk_create(batch)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def purge_timings() -> dict:
    from nexora.privacy.retention import retention_purge

    _, dry_s = timed(retention_purge, dry_run=True)
    done, real_s = timed(retention_purge)
    security = next(o for o in done if o.name == "security_log")
    return {
        "purge_dry_run_s": round(dry_s, 2),
        "purge_s": round(real_s, 2),
        "security_events_deleted": security.acted,
    }


def export_timings(client: Any) -> dict:
    from payments.services.charges import charge_create

    for i in range(CHARGES):
        charge_create(client_id=client.pk, amount=Decimal("1.00"), currency="USD", description="bench",
                      idempotency_key=f"bench-{i}")  # fmt: skip
    from nexora.privacy.exports import export_build, export_csv, export_json

    document, build_s = timed(export_build, client=client)
    as_json, json_s = timed(export_json, document)
    as_csv, csv_s = timed(export_csv, document)
    return {"export_ledger_rows": len(document["categories"]["ledger"]), "export_build_s": round(build_s, 2),
            "export_json_s": round(json_s, 3), "export_csv_s": round(csv_s, 3),
            "export_json_bytes": len(as_json), "export_csv_bytes": len(as_csv.encode())}  # fmt: skip


def request_latencies_ms(token: str, variants: dict[str, list[str]]) -> dict[str, float]:
    """Median latency per middleware variant, measured in interleaved rounds so that load changes on
    a shared machine hit every variant alike."""
    from django.test import Client, override_settings

    web = Client(HTTP_AUTHORIZATION=f"Token {token}")
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(21):
        for name, middleware in variants.items():
            with override_settings(MIDDLEWARE=middleware):
                for _ in range(REQUESTS // 20):
                    started = time.perf_counter()
                    response = web.get("/api/v1/balance/")
                    if round_:  # round 0 warms up
                        samples[name].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    from bench.common import recreate_database

    recreate_database(DB_URL)
    import django

    django.setup()
    import logging

    logging.disable(logging.INFO)  # the access log line per request is not what is measured here
    from django.conf import settings
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from nexora.accounts.services import client_create
    from payments.services.ledger import ledger_credit

    call_command("migrate", verbosity=0)
    clients = [client_create(username=f"bench{i}") for i in range(CLIENTS)]
    ledger_credit(client=clients[0], amount=Decimal("1000000.00"), idempotency_key="fund")
    seed_events(clients)
    result = {"events": EVENTS, "clients": CLIENTS, **purge_timings(), **export_timings(clients[0])}
    token = Token.objects.create(user=clients[0].user).key
    medians = request_latencies_ms(token, {
        "with": list(settings.MIDDLEWARE),
        "without": [m for m in settings.MIDDLEWARE if m not in ADDED_MIDDLEWARE],
    })  # fmt: skip
    with_mw, without_mw = medians["with"], medians["without"]
    result.update({"requests": REQUESTS, "balance_p50_ms": round(with_mw, 3),
                   "balance_p50_ms_without_new_middleware": round(without_mw, 3),
                   "middleware_overhead_ms": round(with_mw - without_mw, 3)})  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
