"""Rule 11: many near-identical amounts: at least ``min_count`` top-ups within +-``tolerance``
of this one in 24 h (this one included). The aggregate query counts them with the same tolerance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import (
    DEPOSIT,
    DecimalParam,
    Features,
    IntParam,
    RuleResult,
    Subject,
    hit,
    insufficient,
    no_hit,
    rule,
)
from aml.rules.wording import money, ordinal, percent


@rule(
    "near_identical",
    "Many near-identical amounts in 24 h",
    subjects={DEPOSIT},
    points=25,
    min_count=IntParam(5, low=2, high=1000, help="top-ups of nearly the same amount in 24 h"),
    tolerance=DecimalParam(
        "0.01", low="0", high="0.20", help="how near counts as the same, share of the amount"
    ),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if subject.amount is None or features.near_identical_24h is None:
        return insufficient("The client's top-ups of the last 24 h are not known.")
    count = features.near_identical_24h + 1
    text = (
        f"{ordinal(count)} top-up within {percent(params['tolerance'])} of "
        f"{money(subject.amount, subject.currency)} in 24 h (threshold {params['min_count']})."
    )
    if count >= params["min_count"]:
        return hit(params["points"], text, count_24h=count, amount=subject.amount)
    return no_hit(text, count_24h=count, amount=subject.amount)
