"""Notifications benchmark on PostgreSQL, one process: sending, delivering e-mail, the header count.

Recreates ``BENCH_DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/nexora_bench), migrates,
creates ``CLIENTS`` clients with an e-mail address and a linked Telegram chat (a bot token is set,
so both channels apply), then times:

* ``send``: ``SENDS`` calls of ``notification_send`` (inbox row + two queued deliveries + their
  on-commit hooks; the broker call itself is replaced by a no-op, so this is the database side);
* ``deliver``: ``delivery_attempt`` of the e-mail deliveries with Django's locmem backend (row lock,
  render in the client's language, send, transition to ``sent`` with its audit row);
* ``count``: the header's unread ``COUNT`` for one client with ``UNREAD`` unread notifications, in a
  table filled to ``ROWS`` rows for other clients (the partial index keeps it independent of them).

Last line of output: {"sends_per_s", "send_p50_ms", "send_p99_ms", "deliveries_per_s",
"deliver_p50_ms", "count_p50_ms", "count_p99_ms", "rows", "unread"}.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexora_bench")
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("NEXORA_ENV", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")
os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
os.environ.setdefault("NEXORA_TELEGRAM_BOT_TOKEN", "1:bench-token")
CLIENTS = int(os.environ.get("CLIENTS", "100"))
SENDS = int(os.environ.get("SENDS", "2000"))
ROWS = int(os.environ.get("ROWS", "200000"))
UNREAD = int(os.environ.get("UNREAD", "50"))


def timed(fn, count: int) -> tuple[float, list[float]]:
    latencies, started = [], time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        fn(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    return time.perf_counter() - started, sorted(latencies)


def p99(latencies: list[float]) -> float:
    return round(latencies[int(len(latencies) * 0.99) - 1], 3)


def fill(clients: list, count: int, prefix: str) -> None:
    from aml.notifications.models import Notification

    rows = [Notification(client=clients[i % len(clients)], event="topup_credited", dedupe_key=f"{prefix}:{i}",
                         params={"amount": "1.00", "currency": "USD"}) for i in range(count)]  # fmt: skip
    Notification.objects.bulk_create(rows, batch_size=5000)


def main() -> None:
    from bench.common import recreate_database

    recreate_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from aml.notifications import services
    from aml.notifications.models import Notification, NotificationDelivery
    from aml.notifications.selectors import unread_count
    from nexora.accounts.models import ClientProfile
    from nexora.accounts.services import client_create

    services.delivery_enqueue = lambda *args, **kwargs: None  # the broker's part is not measured here
    for i in range(CLIENTS):
        client_create(username=f"bench{i}", email=f"bench{i}@example.com", language=("en", "ru", "uk")[i % 3])
    ClientProfile.objects.update(telegram_chat_id="4242", notify_telegram=True)
    clients = list(ClientProfile.objects.select_related("user").order_by("pk"))

    def send(i: int) -> None:
        services.notification_send(client=clients[i % CLIENTS], event="released", dedupe_key=f"bench:{i}",
                                   params={"amount": "12.50", "currency": "USD"})  # fmt: skip

    send_s, send_ms = timed(send, SENDS)
    emails = list(NotificationDelivery.objects.filter(channel="email").values_list("pk", flat=True))
    deliver_s, deliver_ms = timed(lambda i: services.delivery_attempt(delivery_id=emails[i]), len(emails))

    watched, others = clients[0], clients[1:]
    Notification.objects.filter(client=watched).update(read_at=timezone.now())
    fill([watched], UNREAD, "mine")
    fill(others, ROWS - Notification.objects.count(), "fill")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE notifications_notification")
    unread = unread_count(client_id=watched.pk)
    _count_s, count_ms = timed(lambda i: unread_count(client_id=watched.pk), 2000)
    print(json.dumps({
        "sends_per_s": round(SENDS / send_s, 1), "send_p50_ms": round(statistics.median(send_ms), 3),
        "send_p99_ms": p99(send_ms), "deliveries_per_s": round(len(emails) / deliver_s, 1),
        "deliver_p50_ms": round(statistics.median(deliver_ms), 3),
        "count_p50_ms": round(statistics.median(count_ms), 3), "count_p99_ms": p99(count_ms),
        "rows": Notification.objects.count(), "unread": unread,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
