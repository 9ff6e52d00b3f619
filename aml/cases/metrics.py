"""Open AML cases for ``/metrics`` (``nexora.common.metrics``), registered in ``CasesConfig.ready``.

``case_metrics`` reads one aggregate query at scrape time: the cases not closed, per status and
band, with the opening time of the oldest of each group. It yields

* ``nexora_aml_cases_open{status,band}``: how many (every pair present, zeros included);
* ``nexora_aml_cases_oldest_age_seconds{status,band}``: how long the oldest one has been open (only
  for groups that have a case), the number the review team's SLA is about.

No client, rule or assignee appears in a label.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from aml.cases.models import Case, CaseStatus
from aml.models import Decision

BANDS = (Decision.REVIEW.value, Decision.FREEZE.value)


def case_metrics() -> Iterator[Metric]:
    rows = (
        Case.objects.exclude(status=CaseStatus.CLOSED)
        .values_list("status", "band")
        .annotate(n=Count("id"), oldest=Min("opened_at"))
        .order_by()
    )
    groups = {(status, band): (n, oldest) for status, band, n, oldest in rows}
    labels = ["status", "band"]
    open_cases = GaugeMetricFamily("nexora_aml_cases_open", "AML cases not closed yet.", labels=labels)
    oldest = GaugeMetricFamily(
        "nexora_aml_cases_oldest_age_seconds",
        "Seconds since the oldest such case opened.",
        labels=labels,
    )
    now = timezone.now()
    for status in (s for s in CaseStatus.values if s != CaseStatus.CLOSED):
        for band in BANDS:
            n, opened = groups.get((status, band), (0, None))
            open_cases.add_metric([status, band], n)
            if opened is not None:
                oldest.add_metric([status, band], (now - opened).total_seconds())
    yield from (open_cases, oldest)
