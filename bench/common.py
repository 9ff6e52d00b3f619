"""What the database benchmarks share: a scratch database dropped and created afresh for each run.

Each benchmark sets ``DATABASE_URL`` from ``BENCH_DATABASE_URL`` before Django loads, then calls
``recreate_database(url)`` so that its numbers never depend on what an earlier run left behind.
"""

from __future__ import annotations


def recreate_database(url: str) -> None:
    """Drop and create the database named by ``url`` (connecting to ``postgres`` on the same server)."""
    import psycopg

    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
