"""Notification deliveries for ``/metrics``, registered in ``NotificationsConfig.ready``.

``delivery_metrics`` reads one aggregate query at scrape time: the delivery log's rows per channel
and status (``nexora_notification_deliveries{channel,status}``, every pair present). ``failed``
ones need a look (a wrong address, a blocked bot); ``queued`` ones that keep growing mean the
worker or the channel is down. The log is kept 12 months (docs/privacy.md), so these are the
counts of that window.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from aml.notifications.models import Channel, DeliveryStatus, NotificationDelivery


def delivery_metrics() -> Iterator[Metric]:
    rows = NotificationDelivery.objects.values_list("channel", "status").annotate(n=Count("id")).order_by()
    counts = {(channel, status): n for channel, status, n in rows}
    family = GaugeMetricFamily(
        "nexora_notification_deliveries",
        "Notification deliveries in the delivery log, by channel and status.",
        labels=["channel", "status"],
    )
    for channel in Channel.values:
        for status in DeliveryStatus.values:
            family.add_metric([channel, status], counts.get((channel, status), 0))
    yield family
