"""Health probes for load balancers and orchestrators: ``/healthz`` and ``/readyz``.

* ``/healthz``: the process is up and answering. It touches nothing else (no database), so a
  database outage does not make every web process look dead and get restarted in a loop.
* ``/readyz``: this process can do useful work: the database answers ``SELECT 1``; Redis answers
  ``PING`` when ``REDIS_URL`` is configured; every enabled network's node answers its head
  height within ``NEXORA_READYZ_NODE_TIMEOUT_S``; and the scanner is not behind: for each enabled
  network that has a cursor, the blocks between the cursor and the head (times the block time)
  and the age of the last scan are both under ``NEXORA_READYZ_MAX_LAG_S``. A network whose scanner
  has not started yet is reported (``"scanner": "not_started"``) but does not fail readiness, so a
  fresh deployment can come up before the first scan.

Both answer JSON, 200 when everything passed and 503 otherwise, with no authentication. The body
names each check and whether it passed, never a URL, host, credential or error text (node URLs can
carry API keys; error texts carry URLs).

They are served by ``HealthMiddleware``, placed right after the request-id middleware, rather than
by the URLconf: a probe must not depend on the ``Host`` header the balancer sends (``ALLOWED_HOSTS``
is checked later, by ``CommonMiddleware``), be redirected to HTTPS, open a session or be asked for
two-factor authentication. Nodes are asked in parallel, so the probe's time is one timeout, not
one per network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

Check = dict[str, Any]


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return {"ok": False}
    return {"ok": True}


def redis_check() -> Check | None:
    """``None`` when Redis is not configured (the embedded demo runs without it)."""
    if not settings.REDIS_URL:
        return None
    import redis

    timeout = settings.NEXORA_READYZ_NODE_TIMEOUT_S
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception:
        return {"ok": False}
    return {"ok": True}


def _node_head(network: Any) -> int | None:
    from payments.chains.registry import adapter_for
    from payments.services.networks import network_spec

    spec = dataclasses.replace(
        network_spec(network),
        timeout_s=settings.NEXORA_READYZ_NODE_TIMEOUT_S,
        options={**network.options, "backoff_s": 0},
    )
    try:
        return adapter_for(spec).head()
    except Exception:
        return None


def _scanner_check(network: Any, now: Any) -> Check:
    cursor = getattr(network, "cursor", None)
    if cursor is None or cursor.last_scan_at is None:
        return {"scanner": "not_started", "ok": True}
    lag_s = cursor.lag * network.block_time_s
    since_scan_s = int((now - cursor.last_scan_at).total_seconds())
    limit = settings.NEXORA_READYZ_MAX_LAG_S
    return {
        "lag_blocks": cursor.lag,
        "lag_s": lag_s,
        "last_scan_s_ago": since_scan_s,
        "ok": lag_s <= limit and since_scan_s <= limit,
    }


def networks_check() -> dict[str, Check]:
    from payments.models import Network

    networks = list(Network.objects.filter(enabled=True).select_related("cursor"))
    if not networks:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(networks))) as pool:
        heads = list(pool.map(_node_head, networks))
    now = timezone.now()
    checks = {}
    for network, head in zip(networks, heads, strict=True):
        scanner = _scanner_check(network, now)
        node_ok = head is not None
        checks[network.code] = {"node": "ok" if node_ok else "unreachable", **scanner}
        checks[network.code]["ok"] = node_ok and scanner["ok"]
    return checks


def readiness() -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {"database": database_check()}
    redis_result = redis_check()
    if redis_result is not None:
        checks["redis"] = redis_result
    if checks["database"]["ok"]:
        checks["networks"] = networks_check()
    ok = all(c["ok"] for c in (checks["database"], redis_result or {"ok": True})) and all(
        n["ok"] for n in checks.get("networks", {}).values()
    )
    return ok, checks


def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    ok, checks = readiness()
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info.rstrip("/") or "/")
        if probe is not None and request.method in ("GET", "HEAD"):
            response = probe(request)
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
