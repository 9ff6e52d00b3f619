"""Scanner health per network, for the staff API and page, ``/metrics`` and readiness checks.

One query (networks with their cursor) plus one for open operator alerts, whatever the number of
networks. The numbers, as an operator reads them:

* ``head`` / ``cursor``: the chain head the last pass read, and the last block fully processed.
* ``lag_blocks`` = head - cursor: how far the scanner trails the chain it last saw.
* ``lag_seconds``: how far the scanner's view trails real time, estimated as
  ``lag_blocks * block_time_s + seconds since the last successful pass``. It grows when the
  scanner falls behind AND when it stops (a stopped scanner's ``lag_blocks`` stays frozen).
* ``seconds_since_success``: time since a pass last ran to its end.
* ``error_count`` (ever) and ``consecutive_errors`` (since the last success), ``last_error``.
* ``status``: ``disabled``; ``not_started`` (no pass has succeeded yet); ``failing``
  (``consecutive_errors >= NEXORA_SCANNER_ALERT_ERRORS``); ``lagging`` (``lag_seconds`` above
  ``options.alert_lag_s`` or ``NEXORA_SCANNER_ALERT_LAG_S``); else ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from payments.models import Network, OperatorAlert, ScanCursor

STATUSES = ("ok", "lagging", "failing", "not_started", "disabled")


@dataclass(frozen=True)
class NetworkHealth:
    code: str
    name: str
    family: str
    enabled: bool
    block_time_s: int
    confirmations: int
    head: int | None
    cursor: int | None
    lag_blocks: int | None
    lag_seconds: int | None
    last_scan_at: datetime | None
    last_success_at: datetime | None
    seconds_since_success: int | None
    error_count: int
    consecutive_errors: int
    last_error: str
    last_error_at: datetime | None
    open_alerts: int
    status: str


def _status(network: Network, cursor: ScanCursor | None, lag_seconds: int | None) -> str:
    if not network.enabled:
        return "disabled"
    if cursor is not None and cursor.consecutive_errors >= settings.NEXORA_SCANNER_ALERT_ERRORS:
        return "failing"
    if cursor is None or cursor.last_success_at is None or lag_seconds is None:
        return "not_started"
    threshold = int(network.options.get("alert_lag_s", settings.NEXORA_SCANNER_ALERT_LAG_S))
    return "lagging" if lag_seconds > threshold else "ok"


def _health(network: Network, cursor: ScanCursor | None, alerts: int, now: datetime) -> NetworkHealth:
    about: dict[str, Any] = {
        "code": network.code, "name": network.name, "family": network.family, "enabled": network.enabled,
        "block_time_s": network.block_time_s, "confirmations": network.confirmations, "open_alerts": alerts,
    }  # fmt: skip
    if cursor is None:
        return NetworkHealth(
            **about, head=None, cursor=None, lag_blocks=None, lag_seconds=None, last_scan_at=None,
            last_success_at=None, seconds_since_success=None, error_count=0, consecutive_errors=0,
            last_error="", last_error_at=None, status=_status(network, None, None),
        )  # fmt: skip
    since = cursor.last_success_at
    seconds_since = max(0, int((now - since).total_seconds())) if since is not None else None
    lag_seconds = cursor.lag * network.block_time_s + seconds_since if seconds_since is not None else None
    return NetworkHealth(
        **about, head=cursor.head, cursor=cursor.height, lag_blocks=cursor.lag, lag_seconds=lag_seconds,
        last_scan_at=cursor.last_scan_at, last_success_at=since, seconds_since_success=seconds_since,
        error_count=cursor.error_count, consecutive_errors=cursor.consecutive_errors,
        last_error=cursor.last_error, last_error_at=cursor.last_error_at,
        status=_status(network, cursor, lag_seconds),
    )  # fmt: skip


def networks_health(*, now: datetime | None = None) -> list[NetworkHealth]:
    """Every network (enabled or not), ordered by code."""
    now = now or timezone.now()
    alerts = dict(
        OperatorAlert.objects.filter(resolved_at__isnull=True, network__isnull=False)
        .values("network")
        .annotate(n=Count("id"))
        .values_list("network", "n")
    )
    networks = Network.objects.select_related("cursor").order_by("code")
    return [_health(n, getattr(n, "cursor", None), alerts.get(n.pk, 0), now) for n in networks]
