"""A real Celery worker on Redis delivers a notification, honouring Telegram's ``retry_after``.

The other tests run tasks eagerly, where a retry is raised instead of scheduled. Here a worker
process (its own queue, so nothing else on the broker is touched) reads the committed test
database, gets a 429 with ``retry_after: 1`` from the stand-in Bot API, and sends again only after
that second has passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from aml.notifications.models import NotificationDelivery
from aml.notifications.services import notification_send
from aml.notifications.tasks import deliver
from nexora.celery import app as celery_app
from tests.notifications.conftest import BOT_TOKEN

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_a_worker_retries_after_retry_after_then_sends(make_subscriber, bot, monkeypatch):
    queue = f"notify-test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        NEXORA_ENV="test", CELERY_TASK_ALWAYS_EAGER="0", DATABASE_URL=_database_url(),
        NEXORA_TELEGRAM_BOT_TOKEN=BOT_TOKEN, NEXORA_TELEGRAM_API_URL=bot.url,
    )  # fmt: skip
    command = [sys.executable, "-m", "celery", "-A", "nexora", "worker", "--pool=solo", "-Q", queue,
               "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]  # fmt: skip
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    eager = celery_app.conf.task_always_eager
    try:
        celery_app.conf.task_always_eager = False  # this process sends to the broker, as the web would
        monkeypatch.setattr("aml.notifications.services.delivery_enqueue", lambda *a, **k: None)
        client = make_subscriber(chat="4242")
        notification = notification_send(client=client, event="released", dedupe_key="case:1")
        delivery = notification.deliveries.get()
        bot.script("sendMessage", (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: "
                                         "retry after 1", "parameters": {"retry_after": 1}}))  # fmt: skip
        deliver.apply_async(args=[delivery.pk], queue=queue)
        deadline = time.monotonic() + 60
        while (
            NotificationDelivery.objects.get(pk=delivery.pk).status == "queued"
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        delivery.refresh_from_db()
    finally:
        celery_app.conf.task_always_eager = eager
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, ""), output
    assert len(bot.sent()) == 2 and bot.sent()[0] == bot.sent()[1]
    assert BOT_TOKEN not in output
    gap = bot.times[1] - bot.times[0]
    assert gap >= 1.0, gap  # the worker waited for retry_after before asking again
