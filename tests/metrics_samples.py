"""What a scrape would print of some metric families, as plain data for exact assertions."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric


def samples(families: Iterable[Metric]) -> dict[str, dict[tuple[str, ...], float]]:
    """``{sample name: {label values, in the family's label order: value}}``."""
    found: dict[str, dict[tuple[str, ...], float]] = {}
    for family in families:
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sample.labels.values())] = sample.value
    return found
