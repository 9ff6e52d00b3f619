"""AML assessments for ``/metrics`` (``nexora.common.metrics``), registered in ``AmlConfig.ready``.

``assessment_metrics`` reads one aggregate query at scrape time: assessments per subject type and
decision (``nexora_aml_assessments_total``: a counter, since assessments are append-only and are
never deleted before their period; see docs/privacy.md) and, from the same query, those with a
sanctions hit (``nexora_aml_sanctions_hits_total``). Every (subject, decision) pair is present,
zeros included, so ``rate()`` and "share held for review" ratios always have a series. Counts only:
no rule, score or client appears in a label.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Q
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from aml.models import Assessment, Decision, SubjectType


def assessment_metrics() -> Iterator[Metric]:
    rows = (
        Assessment.objects.values_list("subject_type", "decision")
        .annotate(n=Count("id"), sanctions=Count("id", filter=Q(sanctions_hit=True)))
        .order_by()
    )
    counts = {(subject, decision): (n, hits) for subject, decision, n, hits in rows}
    decided = CounterMetricFamily(
        "nexora_aml_assessments", "AML assessments by subject and decision.", labels=["subject", "decision"]
    )
    sanctions = CounterMetricFamily(
        "nexora_aml_sanctions_hits",
        "AML assessments with a sanctions hit, by subject.",
        labels=["subject"],
    )
    for subject in SubjectType.values:
        for decision in Decision.values:
            decided.add_metric([subject, decision], counts.get((subject, decision), (0, 0))[0])
        hits = sum(counts.get((subject, decision), (0, 0))[1] for decision in Decision.values)
        sanctions.add_metric([subject], hits)
    yield from (decided, sanctions)
