"""The ``/metrics`` registry's own parts: the built-in Celery queue lengths read from the broker."""

from __future__ import annotations

import uuid

import pytest
import redis

from nexora.common.metrics import celery_queue_metrics


@pytest.mark.redis
def test_celery_queue_lengths_count_every_priority(settings):
    queue = f"test-queue-{uuid.uuid4().hex}"
    settings.CELERY_TASK_ROUTES = {"payments.scan_network": {"queue": queue}}
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.rpush(queue, "a", "b")
    client.rpush(f"{queue}\x06\x163", "c")  # kombu's key for priority 3
    try:
        (family,) = celery_queue_metrics()
    finally:
        client.delete(queue, f"{queue}\x06\x163")
        client.close()
    lengths = {sample.labels["queue"]: sample.value for sample in family.samples}
    assert family.name == "nexora_celery_queue_length"
    assert lengths[queue] == 3
    assert set(lengths) == {"celery", queue}


def test_without_a_broker_there_is_nothing_to_count(settings):
    settings.REDIS_URL = ""
    (family,) = celery_queue_metrics()
    assert family.samples == []
