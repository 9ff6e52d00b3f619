"""Rule 4, velocity: more top-ups in 24 h than ``multiple`` times the client's usual daily rate
(top-ups of the last 91 days over the days of history, at most 91), and at least ``min_count``;
a client with less than ``new_client_days`` of history is held to an absolute ``new_client_count``
instead. The client's first top-up has no usual rate: insufficient data."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
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
from aml.rules.wording import ordinal, plural, rate


@rule(
    "velocity",
    "Many top-ups in 24 h",
    subjects={DEPOSIT},
    points=25,
    multiple=DecimalParam("3", low="1", high="100", help="times the usual daily rate"),
    min_count=IntParam(3, low=2, high=1000, help="never fewer top-ups than this in 24 h"),
    new_client_days=IntParam(14, low=1, high=365, help="days of history below which a client is new"),
    new_client_count=IntParam(5, low=2, high=1000, help="top-ups in 24 h that flag a new client"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if features.topups_24h is None or features.topups_91d is None:
        return insufficient("The client's recent top-ups are not known.")
    if features.first_topup_at is None:
        return insufficient("First top-up of this client: there is no usual rate to compare with.")
    count = features.topups_24h + 1
    days = max(1, (features.as_of - features.first_topup_at).days)
    data: dict[str, Any] = {"count_24h": count, "history_days": days}
    if days < params["new_client_days"]:
        limit = params["new_client_count"]
        text = (
            f"{ordinal(count)} top-up in 24 h from a client with {plural(days, 'day')} of history; "
            f"the limit for new clients is {limit} in 24 h."
        )
        return hit(params["points"], text, **data) if count >= limit else no_hit(text, **data)
    usual = Decimal(features.topups_91d) / min(91, days)
    threshold = usual * params["multiple"]
    data.update(usual_per_day=usual.quantize(Decimal("0.001")), threshold=threshold.quantize(Decimal("0.01")))
    text = (
        f"{ordinal(count)} top-up in 24 h; client's usual is {rate(usual)} per day "
        f"(threshold {rate(threshold)}, at least {params['min_count']})."
    )
    if count > threshold and count >= params["min_count"]:
        return hit(params["points"], text, **data)
    return no_hit(text, **data)
