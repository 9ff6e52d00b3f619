"""The configured infrastructure is the real one: Redis as cache and Celery broker when REDIS_URL is set."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.core.cache import cache

from nexora.celery import app as celery_app

pytestmark = pytest.mark.redis


def test_cache_is_redis_and_round_trips():
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    key = f"nexora-test-{uuid.uuid4()}"
    cache.set(key, {"n": 1}, timeout=30)
    assert cache.get(key) == {"n": 1}
    cache.delete(key)
    assert cache.get(key) is None


def test_celery_broker_is_redis_and_reachable():
    assert celery_app.conf.broker_url.startswith("redis://")
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.connected
