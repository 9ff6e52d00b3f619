"""``/healthz`` and ``/readyz`` on PostgreSQL and Redis, with a node that answers, one that is down,
a scanner that lags, and Redis unreachable. The EVM node is a loopback server answering JSON-RPC
in its documented shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from payments.models import Network, ScanCursor
from tests.fake_http import LocalServer

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.redis]


def rpc_node(method: str, path: str, headers: object, body: bytes) -> tuple[int, object]:
    call = orjson.loads(body)
    assert call["method"] == "eth_blockNumber"
    return 200, {"jsonrpc": "2.0", "id": call["id"], "result": hex(1000)}


@pytest.fixture
def node() -> Iterator[LocalServer]:
    with LocalServer(rpc_node) as server:
        yield server


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def probe(path: str, host: str = "testserver") -> tuple[int, dict]:
    response = Client().get(path, HTTP_HOST=host)
    assert response["Content-Type"] == "application/json" and response["Cache-Control"] == "no-store"
    return response.status_code, response.json()


def test_healthz_needs_nothing_but_the_process(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert probe("/healthz") == (200, {"status": "ok"})
    # A balancer probing by IP is not an allowed host, and it still gets an answer.
    assert probe("/healthz", host="10.1.2.3:8000") == (200, {"status": "ok"})


def test_ready_with_database_redis_and_a_reachable_node(make_network, node):
    network = make_network("eth", node_urls=[node.url])
    ScanCursor.objects.create(
        network=network, height=998, block_hash="0xabc", head=1000, last_scan_at=timezone.now()
    )
    status, body = probe("/readyz", host="10.1.2.3")
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {
            "database": {"ok": True},
            "redis": {"ok": True},
            "networks": {
                "eth": {"node": "ok", "lag_blocks": 2, "lag_s": 24, "last_scan_s_ago": 0, "ok": True},
            },
        },
    }


def test_not_ready_when_a_node_is_down_and_no_url_is_shown(make_network, node):
    make_network("eth", node_urls=[node.url])
    down_url = closed_port_url()
    make_network("eth@eth-backup", node_urls=[down_url], chain_id=1)
    status, body = probe("/readyz")
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["networks"]["eth"] == {"node": "ok", "scanner": "not_started", "ok": True}
    assert body["checks"]["networks"]["eth-backup"] == {
        "node": "unreachable",
        "scanner": "not_started",
        "ok": False,
    }
    text = orjson.dumps(body).decode()
    assert "127.0.0.1" not in text and down_url not in text


def test_not_ready_when_the_scanner_lags(make_network, node, settings):
    settings.NEXORA_READYZ_MAX_LAG_S = 600
    network = make_network("eth", node_urls=[node.url], block_time_s=12)
    cursor = ScanCursor.objects.create(
        network=network, height=900, block_hash="0xabc", head=1000, last_scan_at=timezone.now()
    )
    status, body = probe("/readyz")
    assert status == 503 and body["checks"]["networks"]["eth"]["lag_s"] == 1200
    ScanCursor.objects.filter(pk=cursor.pk).update(
        height=999, last_scan_at=timezone.now() - timedelta(minutes=11)
    )
    status, body = probe("/readyz")  # caught up, but no scan for 11 minutes: the scanner stopped
    assert status == 503 and body["checks"]["networks"]["eth"]["last_scan_s_ago"] >= 660


def test_disabled_networks_are_not_checked(make_network):
    make_network("eth", node_urls=[closed_port_url()])
    Network.objects.update(enabled=False)
    status, body = probe("/readyz")
    assert status == 200 and body["checks"]["networks"] == {}


def test_not_ready_when_redis_is_unreachable(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    status, body = probe("/readyz")
    assert (
        status == 503
        and body["checks"]["redis"] == {"ok": False}
        and body["checks"]["database"] == {"ok": True}
    )


def test_without_redis_configured_there_is_no_redis_check(settings):
    settings.REDIS_URL = ""
    status, body = probe("/readyz")
    assert status == 200 and "redis" not in body["checks"]


def test_not_ready_when_the_database_is_down(monkeypatch):
    """The one fault injected rather than real: the test itself needs the database it takes away."""
    from nexora.common import health

    class Down:
        def __enter__(self) -> None:
            raise OSError("connection refused")

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(health.connection, "cursor", lambda: Down())
    status, body = probe("/readyz")
    assert status == 503 and body["checks"]["database"] == {"ok": False} and "networks" not in body["checks"]


def test_probes_only_answer_get_and_head():
    assert Client().head("/healthz").status_code == 200
    assert Client().post("/healthz").status_code != 200
