"""Rule 3, structuring (FATF red flag): repeated top-ups just under the client's per-top-up KYC
limit. Hits when this top-up is in [band_low, 100%) of the limit and it is at least the
``min_count``-th such top-up in 30 days. The 30-day count comes from the aggregate query, which
uses the same band."""

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
    "structuring",
    "Repeated top-ups just under the KYC limit",
    subjects={DEPOSIT},
    points=40,
    min_count=IntParam(2, low=2, high=100, help="top-ups in the band within 30 days"),
    band_low=DecimalParam("0.90", low="0.50", high="0.99", help="lower edge of the band, share of the limit"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    amount, limit, level, cur = subject.amount, features.kyc_per_topup, features.kyc_level, subject.currency
    if amount is None or level is None or features.structuring_band_30d is None:
        return insufficient("The client's top-ups of the last 30 days are not known.")
    if limit is None:
        return no_hit(f"No per-top-up limit at the {level} level: there is no threshold to stay under.")
    low = limit * params["band_low"]
    in_band = low <= amount < limit
    count = features.structuring_band_30d + (1 if in_band else 0)
    data = {"amount": amount, "limit": limit, "band_low": low, "in_band_30d": count, "level": level}
    share = percent(params["band_low"])
    band = f"{money(low, cur)} and {money(limit, cur)} ({share} to 100% of the {level} limit)"
    if in_band and count >= params["min_count"]:
        return hit(
            params["points"],
            f"{ordinal(count)} top-up in 30 days between {band}; threshold {params['min_count']}.",
            **data,
        )
    if in_band:
        return no_hit(
            f"{money(amount, cur)} is between {band}, the first such top-up in 30 days; "
            f"threshold {params['min_count']}.",
            **data,
        )
    return no_hit(f"{money(amount, cur)} is not between {band}; {count} top-ups in it in 30 days.", **data)
