"""Payments' collectors for ``/metrics`` (``nexora.common.metrics``), registered in ``apps.py``.

``scanner_metrics`` turns ``networks_health`` (one selector, also behind the staff health API)
into one family per number, labelled by network code, so the page and the alerts can never
disagree. Networks without a cursor yet export only their status and zero error counters.
``lookalike_metrics`` counts recorded look-alike token transfers per network.

The money and flow collectors read one aggregate query each at scrape time (tests assert it):

* ``topup_metrics``: top-ups per network and status (a gauge: how many are in each state now),
  every (network, status) pair present, zeros included, so a rate or a ratio never lacks a series;
* ``deposit_metrics``: deposits ever credited per network and account currency (``credited_at``
  set: a counter that never goes backwards, since a deposit a reorg reversed later, or one mined
  again and credited anew, stays counted once), their credited value, and how many are reversed
  now (a gauge: a reversed deposit mined again leaves it). Values are summed in SQL as ``Decimal``
  and become a float only as a sample (``decimal_sample``);
* ``payout_metrics``: refunds per network and status (``approved`` ones wait for the treasury).

Metric names and their alert thresholds are documented in ``docs/operations.md``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from nexora.common.metrics import decimal_sample
from payments.models import (
    Deposit,
    DepositStatus,
    LookalikeTransfer,
    Network,
    PayoutStatus,
    TopUpStatus,
)
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


def _per_network_status(relation: str, statuses: list[str]) -> dict[str, dict[str, int]]:
    """``{network code: {status: rows}}`` for every network, zeros included: one LEFT JOIN query."""
    rows = Network.objects.values_list("code", f"{relation}__status").annotate(n=Count(relation)).order_by()
    counts: dict[str, dict[str, int]] = {}
    for code, status, n in rows:
        per_status = counts.setdefault(code, dict.fromkeys(statuses, 0))
        if status is not None:
            per_status[status] = n
    return counts


def _status_gauge(name: str, help_text: str, counts: dict[str, dict[str, int]]) -> Metric:
    family = GaugeMetricFamily(name, help_text, labels=["network", "status"])
    for code in sorted(counts):
        for status, n in counts[code].items():
            family.add_metric([code, status], n)
    return family


def topup_metrics() -> Iterator[Metric]:
    counts = _per_network_status("topups", list(TopUpStatus.values))
    yield _status_gauge("nexora_topups", "Top-ups in each status, per network.", counts)


def payout_metrics() -> Iterator[Metric]:
    counts = _per_network_status("payouts", list(PayoutStatus.values))
    yield _status_gauge("nexora_payouts", "Refunds to source in each status, per network.", counts)


@dataclass
class _Credited:
    count: int = 0
    undone: int = 0
    value: Decimal = Decimal(0)


def _credited_totals() -> dict[tuple[str, str], _Credited]:
    """Per (network, currency): deposits ever credited, how many are reversed now, their value."""
    rows = (
        Deposit.objects.filter(credited_at__isnull=False)
        .values_list("network__code", "topup__currency", "status")
        .annotate(n=Count("id"), value=Sum("credited_amount"))
        .order_by("network__code", "topup__currency", "status")
    )
    totals: dict[tuple[str, str], _Credited] = defaultdict(_Credited)
    for code, currency, status, n, value in rows:
        total = totals[(code, currency or "")]
        total.count += n
        total.value += value or 0
        if status == DepositStatus.REVERSED:
            total.undone += n
    return totals


def deposit_metrics() -> Iterator[Metric]:
    labels = ["network", "currency"]
    credited = CounterMetricFamily(
        "nexora_deposits_credited", "Deposits ever credited (reversed ones included).", labels=labels
    )
    amount = CounterMetricFamily(
        "nexora_deposits_credited_amount",
        "Value credited for those deposits, in the account currency (reversed ones included).",
        labels=labels,
    )
    undone = GaugeMetricFamily(
        "nexora_deposits_reversed", "Credited deposits whose credit a reorganisation reversed.", labels=labels
    )
    for key, total in _credited_totals().items():
        credited.add_metric(list(key), total.count)
        amount.add_metric(list(key), decimal_sample(total.value))
        undone.add_metric(list(key), total.undone)
    yield from (credited, amount, undone)
