"""The scanner's health: what each pass writes on the cursor, the beat task's back-off, the health
selector's numbers and statuses, ``/metrics`` (exact Prometheus lines, a failing collector, who
may read it) and ``GET /api/v1/staff/networks/health/`` (shape and permission matrix).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import Retry
from prometheus_client.core import GaugeMetricFamily
from rest_framework.test import APIClient

from nexora.accounts.roles import STAFF_ROLES
from nexora.common.metrics import collector_register, collector_unregister
from payments.chains.base import ChainError
from payments.models import OperatorAlert, ScanCursor
from payments.selectors.scanner import networks_health
from payments.tasks import scan_due, scan_network
from tests.payments.memory_chain import memory_chain

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "metrics-token-123"


def cursor_for(network: Any, **fields: Any) -> ScanCursor:
    values = {"height": 100, "block_hash": "0x" + "a" * 64, "head": 100, "last_scan_at": NOW,
              "last_success_at": NOW, **fields}  # fmt: skip
    return ScanCursor.objects.create(network=network, **values)


# -- what a pass writes --------------------------------------------------------------------------


@pytest.fixture
def chain_env(make_network, monkeypatch) -> SimpleNamespace:
    network = make_network("usdt-erc20", confirmations=2)
    chain = memory_chain(network)
    chain.mine(3)
    monkeypatch.setattr("payments.tasks._adapter", lambda network: chain)
    return SimpleNamespace(network=network, chain=chain)


def test_a_pass_records_success_and_a_failure_counts_in_a_row(chain_env, monkeypatch):
    scan_network.delay(chain_env.network.pk)
    cursor = ScanCursor.objects.get()
    assert cursor.last_success_at is not None
    assert (cursor.error_count, cursor.consecutive_errors, cursor.last_error) == (0, 0, "")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ChainError("node is down")

    monkeypatch.setattr(chain_env.chain, "head", broken)
    for _ in range(2):
        with pytest.raises(Retry):
            scan_network.delay(chain_env.network.pk)
    cursor = ScanCursor.objects.get()
    assert (cursor.error_count, cursor.consecutive_errors, cursor.last_error) == (
        2, 2, "ChainError: node is down")  # fmt: skip
    assert cursor.last_error_at is not None and cursor.last_success_at is not None
    assert cursor.last_error_at >= cursor.last_success_at
    monkeypatch.undo()
    monkeypatch.setattr("payments.tasks._adapter", lambda network: chain_env.chain)
    scan_network.delay(chain_env.network.pk)
    cursor = ScanCursor.objects.get()
    assert (cursor.error_count, cursor.consecutive_errors) == (2, 0)
    assert cursor.last_error == "ChainError: node is down"  # kept for the record, with its time


def test_beat_backs_off_a_failing_network(make_network, monkeypatch):
    network = make_network("usdt-erc20", block_time_s=4)
    queued: list[int] = []
    monkeypatch.setattr("payments.tasks.scan_network.delay", queued.append)
    monkeypatch.setattr("payments.tasks.timezone.now", lambda: NOW)
    cursor = cursor_for(network, last_scan_at=NOW - timedelta(seconds=60))

    def due_after(errors: int, seconds_since_error: float) -> bool:
        ScanCursor.objects.filter(pk=cursor.pk).update(
            consecutive_errors=errors, last_error_at=NOW - timedelta(seconds=seconds_since_error)
        )
        queued.clear()
        scan_due()
        return queued == [network.pk]

    assert due_after(0, 0)  # not failing: due once the block time has passed
    assert not due_after(1, 3) and due_after(1, 4)  # 4 s after the first error
    assert not due_after(3, 15) and due_after(3, 16)  # doubled twice: 16 s
    assert not due_after(10, 299) and due_after(10, 300)  # capped at 5 minutes


# -- the health selector -------------------------------------------------------------------------


@pytest.fixture
def networks(make_network, settings) -> SimpleNamespace:
    settings.NEXORA_SCANNER_ALERT_LAG_S = 300
    settings.NEXORA_SCANNER_ALERT_ERRORS = 3
    eth = make_network("eth", block_time_s=12)
    usdt = make_network("usdt-erc20", block_time_s=12)
    trx = make_network("trx", block_time_s=3)
    btc = make_network("btc", block_time_s=600)
    make_network("usdt-trc20", enabled=False)
    make_network("usdt-bep20", block_time_s=3)  # never scanned: no cursor
    cursor_for(eth, height=1_000, head=1_002, last_success_at=NOW - timedelta(seconds=10))
    cursor_for(usdt, height=900, head=1_002, last_success_at=NOW - timedelta(seconds=20))
    cursor_for(trx, error_count=7, consecutive_errors=3, last_error="RateLimited: HTTP 429",
               last_error_at=NOW - timedelta(seconds=5))  # fmt: skip
    cursor_for(btc, last_success_at=None)
    OperatorAlert.objects.create(kind="deep_reorg", network=eth, message="a")
    OperatorAlert.objects.create(kind="deep_reorg", network=eth, message="b", resolved_at=NOW)
    return SimpleNamespace(eth=eth, usdt=usdt, trx=trx, btc=btc)


def test_health_numbers_and_statuses(networks):
    health = {h.code: h for h in networks_health(now=NOW)}

    assert list(health) == ["btc", "eth", "trx", "usdt-bep20", "usdt-erc20", "usdt-trc20"]
    eth = health["eth"]
    assert (eth.head, eth.cursor, eth.lag_blocks, eth.seconds_since_success, eth.lag_seconds) == (
        1_002, 1_000, 2, 10, 2 * 12 + 10)  # fmt: skip
    assert (eth.status, eth.open_alerts, eth.error_count, eth.consecutive_errors) == ("ok", 1, 0, 0)
    assert (health["usdt-erc20"].lag_seconds, health["usdt-erc20"].status) == (102 * 12 + 20, "lagging")
    trx = health["trx"]
    assert (trx.status, trx.error_count, trx.consecutive_errors, trx.last_error) == (
        "failing", 7, 3, "RateLimited: HTTP 429")  # fmt: skip
    assert (health["btc"].status, health["btc"].lag_seconds) == ("not_started", None)
    assert (health["usdt-bep20"].status, health["usdt-bep20"].head, health["usdt-bep20"].error_count) == (
        "not_started", None, 0)  # fmt: skip
    assert health["usdt-trc20"].status == "disabled"


def test_a_network_can_have_its_own_lag_threshold(networks):
    networks.usdt.options = {"alert_lag_s": 2_000}
    networks.usdt.save()
    assert {h.code: h.status for h in networks_health(now=NOW)}["usdt-erc20"] == "ok"


# -- /metrics ------------------------------------------------------------------------------------

EXPECTED_LINES = [
    'nexora_scanner_head_height{network="eth"} 1002.0',
    'nexora_scanner_cursor_height{network="eth"} 1000.0',
    'nexora_scanner_lag_blocks{network="eth"} 2.0',
    'nexora_scanner_lag_blocks{network="usdt-erc20"} 102.0',
    'nexora_scanner_lag_seconds{network="eth"} 34.0',
    'nexora_scanner_lag_seconds{network="usdt-erc20"} 1244.0',
    'nexora_scanner_consecutive_errors{network="trx"} 3.0',
    'nexora_scanner_last_success_timestamp_seconds{network="eth"} 1.77236639e+09',  # NOW - 10 s
    'nexora_scanner_errors_total{network="trx"} 7.0',
    'nexora_scanner_errors_total{network="usdt-bep20"} 0.0',
    'nexora_scanner_status{network="trx",status="failing"} 1.0',
    'nexora_scanner_status{network="trx",status="ok"} 0.0',
    'nexora_scanner_status{network="usdt-bep20",status="not_started"} 1.0',
    'nexora_lookalike_transfers_total{network="eth"} 0.0',
    'nexora_metrics_collector_up{collector="scanner"} 1.0',
    'nexora_metrics_collector_up{collector="lookalikes"} 1.0',
]


@pytest.fixture
def frozen(monkeypatch) -> None:
    monkeypatch.setattr("payments.selectors.scanner.timezone.now", lambda: NOW)


def metrics(api: Any, **headers: str) -> Any:
    return api.get("/metrics", **headers)


def test_metrics_in_prometheus_text_format(networks, frozen, settings, api):
    settings.NEXORA_METRICS_TOKEN = TOKEN
    response = metrics(api, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
    lines = response.content.decode().splitlines()
    for line in EXPECTED_LINES:
        assert line in lines, line
    assert "# TYPE nexora_scanner_errors_total counter" in lines
    assert not any('head_height{network="usdt-bep20"}' in line for line in lines)  # no cursor, no number


def test_a_failing_collector_is_reported_and_the_rest_still_answers(networks, frozen, settings, api):
    def broken() -> list[GaugeMetricFamily]:
        raise RuntimeError("the AML tables are locked")

    settings.NEXORA_METRICS_TOKEN = TOKEN
    collector_register("broken", broken)
    try:
        lines = metrics(api, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode().splitlines()
    finally:
        collector_unregister("broken")
    assert 'nexora_metrics_collector_up{collector="broken"} 0.0' in lines
    assert 'nexora_scanner_lag_blocks{network="eth"} 2.0' in lines


@pytest.mark.parametrize(
    ("who", "header", "expected"),
    [
        ("anonymous", "", (401, "not_authenticated")),
        ("anonymous", "Bearer wrong-token", (401, "not_authenticated")),
        ("anonymous", f"Basic {TOKEN}", (401, "not_authenticated")),
        ("anonymous", f"Bearer {TOKEN}", (200, "")),
        ("client", "", (403, "permission_denied")),
        ("client", f"Bearer {TOKEN}", (200, "")),
        ("support", "", (200, "")),
        ("admin", "", (200, "")),
        ("admin", "Bearer wrong-token", (401, "not_authenticated")),
    ],
)
def test_who_may_read_metrics(client, client_profile, make_staff, settings, who, header, expected):
    settings.NEXORA_METRICS_TOKEN = TOKEN
    if who == "client":
        client.force_login(client_profile.user)
    elif who != "anonymous":
        client.force_login(make_staff(who))
    response = client.get("/metrics", **({"HTTP_AUTHORIZATION": header} if header else {}))
    code = response.json()["error"]["code"] if response.status_code != 200 else ""
    assert (response.status_code, code) == expected
    if response.status_code == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_an_empty_token_disables_token_access(client, settings):
    settings.NEXORA_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.post("/metrics").status_code == 405


# -- the staff API -------------------------------------------------------------------------------


def test_staff_health_api_shape(networks, frozen, make_staff):
    api = APIClient()
    api.force_authenticate(make_staff("support"))
    response = api.get("/api/v1/staff/networks/health/")
    assert response.status_code == 200
    eth = next(row for row in response.json() if row["code"] == "eth")
    assert eth == {
        "code": "eth", "name": "Ether", "family": "evm", "enabled": True, "block_time_s": 12,
        "confirmations": 3, "head": 1002, "cursor": 1000, "lag_blocks": 2, "lag_seconds": 34,
        "last_scan_at": "2026-03-01T12:00:00Z", "last_success_at": "2026-03-01T11:59:50Z",
        "seconds_since_success": 10, "error_count": 0, "consecutive_errors": 0, "last_error": "",
        "last_error_at": None, "open_alerts": 1, "status": "ok",
    }  # fmt: skip
    assert [row["code"] for row in response.json()] == [
        "btc", "eth", "trx", "usdt-bep20", "usdt-erc20", "usdt-trc20"]  # fmt: skip


@pytest.mark.parametrize("principal", ["anonymous", "client", "staff_without_role", *STAFF_ROLES, "billing"])
def test_staff_health_api_permission_matrix(
    principal, client_profile, make_staff, billing_key, django_user_model
):
    api = APIClient()
    if principal == "client":
        api.force_authenticate(client_profile.user)
    elif principal == "staff_without_role":
        api.force_authenticate(
            django_user_model.objects.create_user(username="bare", password="pw", is_staff=True)
        )
    elif principal in STAFF_ROLES:
        api.force_authenticate(make_staff(principal))
    elif principal == "billing":
        api.credentials(HTTP_AUTHORIZATION=f"Api-Key {billing_key}")
    response = api.get("/api/v1/staff/networks/health/")
    expected = {"anonymous": 401}.get(principal, 200 if principal in STAFF_ROLES else 403)
    assert response.status_code == expected, principal
    if expected != 200:
        assert response.json()["error"]["code"] in {"not_authenticated", "permission_denied"}
