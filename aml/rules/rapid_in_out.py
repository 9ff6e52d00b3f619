"""Rule 12, rapid in-out: a refund or payout requested within 72 h of a top-up, with (almost)
nothing spent since: money passing through. ``spent_share`` is how much of what was topped up in
those 72 h must have been charged for the payout to look like ordinary use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import (
    PAYOUT,
    DecimalParam,
    Features,
    RuleResult,
    Subject,
    hit,
    insufficient,
    no_hit,
    rule,
)
from aml.rules.wording import duration, money, percent


@rule(
    "rapid_in_out",
    "Payout soon after a top-up, without spending",
    subjects={PAYOUT},
    points=40,
    spent_share=DecimalParam(
        "0.10", low="0", high="1", help="share of the 72 h top-ups that counts as spending"
    ),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    first, topped, spent, cur = (
        features.first_topup_72h_at,
        features.topup_sum_72h,
        features.charged_since_72h_topup,
        subject.currency,
    )
    if subject.amount is None or topped is None or spent is None:
        return insufficient("The client's top-ups and charges of the last 72 h are not known.")
    if first is None:
        return no_hit("No top-up in the 72 h before this request.")
    data = {"amount": subject.amount, "topped_up_72h": topped, "spent_since": spent}
    text = (
        f"Payout of {money(subject.amount, cur)} requested "
        f"{duration(features.as_of - first)} after a top-up; "
        f"{money(topped, cur)} topped up in 72 h, {money(spent, cur)} spent since "
        f"(spending under {percent(params['spent_share'])} counts as none)."
    )
    if spent < topped * params["spent_share"]:
        return hit(params["points"], text, **data)
    return no_hit(text, **data)
