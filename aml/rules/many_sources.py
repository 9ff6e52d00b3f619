"""Rule 9: many distinct source addresses for one client in 24 h (this deposit's included)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import DEPOSIT, Features, IntParam, RuleResult, Subject, hit, insufficient, no_hit, rule


@rule(
    "many_sources",
    "Many source addresses in 24 h",
    subjects={DEPOSIT},
    points=25,
    min_sources=IntParam(5, low=2, high=1000, help="distinct source addresses in 24 h"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if not subject.counterparty:
        return insufficient("The source address is not known (several inputs): sources cannot be counted.")
    if features.sources_24h is None:
        return insufficient("The client's source addresses of the last 24 h are not known.")
    count = features.sources_24h + 1
    text = (
        f"{count} distinct source addresses in 24 h, this one included (threshold {params['min_sources']})."
    )
    if count >= params["min_sources"]:
        return hit(params["points"], text, sources_24h=count)
    return no_hit(text, sources_24h=count)
