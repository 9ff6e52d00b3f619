"""Rule 16: one payment above the per-top-up limit of the client's KYC level (an overpayment, a
late payment valued higher, or money sent again to an old address): held for review."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import DEPOSIT, Features, RuleResult, Subject, hit, insufficient, no_hit, rule
from aml.rules.wording import money


@rule("kyc_single_limit", "One top-up above the KYC limit", subjects={DEPOSIT}, points=40)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    amount, limit, level, cur = subject.amount, features.kyc_per_topup, features.kyc_level, subject.currency
    if amount is None or level is None:
        return insufficient("The amount of this top-up or the client's verification level is not known.")
    data = {"amount": amount, "limit": limit, "level": level}
    if limit is None:
        return no_hit(f"No per-top-up limit at the {level} level.", **data)
    text = f"{money(amount, cur)} in one top-up; the {level} per-top-up limit is {money(limit, cur)}."
    return hit(params["points"], text, **data) if amount > limit else no_hit(text, **data)
