"""HTTP request counts on ``/metrics``: per process, and across gunicorn's workers.

The last test is the one that decides whether prometheus_client's multiprocess mode "works
cleanly with gunicorn here": the Procfile's server (gthread workers) with two workers that are
recycled every few requests (``--max-requests``), and every request counted exactly once in the
sum that any worker answers, with no more count files than workers.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.test import Client

from nexora.common import http_metrics
from nexora.common.http_metrics import LocalCounts, SharedCounts, counts_install, request_labels

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-tests"


def counted(families) -> dict[tuple[str, str], float]:
    found = {}
    for family in families:
        for sample in family.samples:
            assert sample.name == "nexora_http_requests_total"
            found[(sample.labels["method"], sample.labels["status"])] = sample.value
    return found


@pytest.fixture
def fresh_counts() -> Iterator[LocalCounts]:
    previous = http_metrics._counts
    counts = LocalCounts()
    counts_install(counts)
    yield counts
    counts_install(previous)


def test_labels_are_bounded():
    assert request_labels("get", 200) == ("GET", "2xx")
    assert request_labels("PROPFIND", 207) == ("other", "2xx")
    assert request_labels(None, 999) == ("other", "other")
    assert request_labels("DELETE", 503) == ("DELETE", "5xx")


@pytest.mark.django_db
def test_every_answer_of_this_process_is_counted(fresh_counts, settings):
    settings.NEXORA_METRICS_TOKEN = TOKEN
    web = Client()
    assert web.get("/healthz").status_code == 200
    assert web.get("/healthz").status_code == 200
    assert web.get("/no-such-page/").status_code == 404
    assert web.post("/metrics").status_code == 405
    assert web.get("/metrics").status_code == 401
    page = web.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert page.status_code == 200
    # The scrape is counted once it has answered, so it sees the requests before it.
    text = page.content.decode()
    assert 'nexora_http_requests_total{method="GET",status="2xx"} 2.0' in text
    assert 'nexora_http_requests_total{method="GET",status="4xx"} 2.0' in text
    assert counted(http_metrics.http_metrics()) == {
        ("GET", "2xx"): 3.0,
        ("GET", "4xx"): 2.0,
        ("POST", "4xx"): 1.0,
    }


class Broken:
    def inc(self, labels):
        raise OSError("the metrics directory is gone")

    def families(self):
        return []


def test_counting_never_fails_a_request(fresh_counts, caplog, monkeypatch):
    counts_install(Broken())
    monkeypatch.setattr(http_metrics, "_failed", False)
    web = Client()
    with caplog.at_level(logging.ERROR, logger="nexora.common.http_metrics"):
        assert [web.get("/healthz").status_code for _ in range(3)] == [200, 200, 200]
    assert [r.getMessage() for r in caplog.records] == [
        "counting HTTP requests failed; /metrics will under-count"
    ]


# -- across processes ----------------------------------------------------------------------------

WORKER = """
import sys
from nexora.common.http_metrics import SharedCounts
counts = SharedCounts()
for _ in range(int(sys.argv[1])):
    counts.inc(("GET", "2xx"))
print(counts._slot())
"""


def run_worker(directory: Path, requests: int) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(requests)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_a_worker_that_replaces_a_dead_one_continues_its_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert [run_worker(tmp_path, n) for n in (3, 2, 4)] == ["slot0", "slot0", "slot0"]
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_slot0.db"]
    live = SharedCounts()  # this process, alive while another worker writes too
    live.inc(("POST", "2xx"))
    assert run_worker(tmp_path, 1) == "slot1"  # slot0 is held: the other one takes the next
    assert live._slot() == "slot0"
    assert counted(live.families()) == {("GET", "2xx"): 10.0, ("POST", "2xx"): 1.0}


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def gunicorn(tmp_path) -> Iterator[str]:
    """The Procfile's web server with two gthread workers, each recycled after 4 requests."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "DATABASE_URL": _database_url(),
        "NEXORA_ENV": "test",
        "NEXORA_METRICS_TOKEN": TOKEN,
    }
    log = (tmp_path / "gunicorn.log").open("w+")
    command = [
        sys.executable, "-m", "gunicorn", "nexora.wsgi", "--bind", "127.0.0.1:0", "--worker-class", "gthread",
        "--workers", "2", "--threads", "2", "--max-requests", "4",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield _listening(log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def _listening(log) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read())
        if found:
            return found.group(1)
        time.sleep(0.1)
    log.seek(0)
    raise AssertionError(f"gunicorn did not start:\n{log.read()}")


def _get(url: str, **headers: str) -> httpx.Response:
    for _ in range(100):  # a worker being replaced can refuse the connection for a moment
        try:
            return httpx.get(url, headers=headers, timeout=10)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"no answer from {url}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_answer_the_machine_total_while_they_are_recycled(gunicorn, tmp_path):
    answers = [_get(f"{gunicorn}/healthz").status_code for _ in range(20)]
    assert answers == [200] * 20
    scrape = _get(f"{gunicorn}/metrics", Authorization=f"Bearer {TOKEN}")
    assert scrape.status_code == 200
    text = scrape.text
    assert 'nexora_http_requests_total{method="GET",status="2xx"} 20.0' in text
    # Five or more recycled workers, yet no more files than workers ever alive together.
    files = sorted(p.name for p in (tmp_path / "metrics").glob("*.db"))
    assert 1 <= len(files) <= 3 and all(re.fullmatch(r"counter_slot\d\.db", f) for f in files)
    # Every collector answered in this scrape, from any worker (they read the test database).
    down = re.findall(r'nexora_metrics_collector_up\{collector="([^"]+)"\} 0\.0', text)
    assert down == []
    for collector in ("http", "topups", "deposits", "payouts", "aml_assessments", "aml_cases"):
        assert f'nexora_metrics_collector_up{{collector="{collector}"}} 1.0' in text
    again = _get(f"{gunicorn}/metrics", Authorization=f"Bearer {TOKEN}").text
    assert 'nexora_http_requests_total{method="GET",status="2xx"} 21.0' in again  # the first scrape
