"""Integration tests on real processes (Celery workers and beat, Redis, PostgreSQL, anvil)."""
