"""Rule 14: the client's top-ups of the last 30 days, this one included, exceed the rolling 30-day
limit of their KYC level. New top-ups above it are refused at creation (``verification_required``);
money that arrives anyway is held for review."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import DEPOSIT, Features, RuleResult, Subject, hit, insufficient, no_hit, rule
from aml.rules.wording import money


@rule("kyc_volume", "30-day volume above the KYC limit", subjects={DEPOSIT}, points=40)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    amount, limit, level, cur = subject.amount, features.kyc_rolling_30d, features.kyc_level, subject.currency
    if amount is None or level is None or features.topup_sum_30d is None:
        return insufficient("The client's top-ups of the last 30 days are not known.")
    total = features.topup_sum_30d + amount
    data = {"total_30d": total, "limit": limit, "level": level}
    if limit is None:
        return no_hit(f"No 30-day limit at the {level} level ({money(total, cur)} in 30 days).", **data)
    text = (
        f"{money(total, cur)} topped up in 30 days with this one; "
        f"the {level} 30-day limit is {money(limit, cur)}."
    )
    return hit(params["points"], text, **data) if total > limit else no_hit(text, **data)
