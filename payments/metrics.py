"""Payments' collectors for ``/metrics`` (``nexora.common.metrics``), registered in ``apps.py``.

``scanner_metrics`` turns ``networks_health`` (one selector, also behind the staff health API)
into one family per number, labelled by network code, so the page and the alerts can never
disagree. Networks without a cursor yet export only their status and zero error counters.
``lookalike_metrics`` counts recorded look-alike token transfers per network. Metric names and
their alert thresholds are documented in ``docs/operations.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from payments.models import LookalikeTransfer, Network
from payments.selectors.scanner import STATUSES, NetworkHealth, networks_health

_GAUGES = {
    "head_height": ("head", "Chain head read by the last scanner pass."),
    "cursor_height": ("cursor", "Last block whose transfers were all recorded."),
    "lag_blocks": ("lag_blocks", "Blocks between the head and the cursor at the last pass."),
    "lag_seconds": ("lag_seconds", "Estimated seconds the scanner trails real time."),
    "consecutive_errors": ("consecutive_errors", "Failed passes since the last successful one."),
}


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def scanner_metrics() -> Iterator[Metric]:
    health = networks_health()
    for name, (attribute, help_text) in _GAUGES.items():
        family = GaugeMetricFamily(f"nexora_scanner_{name}", help_text, labels=["network"])
        for h in health:
            value = getattr(h, attribute)
            if value is not None:
                family.add_metric([h.code], value)
        yield family
    yield _last_success(health)
    errors = CounterMetricFamily("nexora_scanner_errors", "Failed scanner passes, ever.", labels=["network"])
    for h in health:
        errors.add_metric([h.code], h.error_count)
    yield errors
    status = GaugeMetricFamily(
        "nexora_scanner_status", "1 for the network's current health status.", labels=["network", "status"]
    )
    for h in health:
        for name in STATUSES:
            status.add_metric([h.code, name], 1 if h.status == name else 0)
    yield status


def _last_success(health: list[NetworkHealth]) -> Metric:
    family = GaugeMetricFamily(
        "nexora_scanner_last_success_timestamp_seconds",
        "Unix time of the last scanner pass that ran to its end.",
        labels=["network"],
    )
    for h in health:
        moment = _timestamp(h.last_success_at)
        if moment is not None:
            family.add_metric([h.code], moment)
    return family


def lookalike_metrics() -> Iterator[Metric]:
    counts = dict(
        LookalikeTransfer.objects.values("network").annotate(n=Count("id")).values_list("network", "n")
    )
    family = CounterMetricFamily(
        "nexora_lookalike_transfers", "Look-alike token transfers to our addresses (never credited).",
        labels=["network"],
    )  # fmt: skip
    for pk, code in Network.objects.order_by("code").values_list("pk", "code"):
        family.add_metric([code], counts.get(pk, 0))
    yield family
