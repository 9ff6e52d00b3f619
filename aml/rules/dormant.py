"""Rule 8: a dormant account (no top-up or charge for ``idle_days``) reactivated by a large
top-up. A client with no earlier activity at all is not dormant, just unknown: insufficient data."""

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
from aml.rules.wording import money, plural


@rule(
    "dormant_reactivation",
    "Dormant account reactivated by a large top-up",
    subjects={DEPOSIT},
    points=20,
    idle_days=IntParam(90, low=7, high=3650, help="days without a top-up or charge"),
    min_amount=DecimalParam("1000.00", help="a top-up at least this large (account currency)"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    amount, cur = subject.amount, subject.currency
    seen = [t for t in (features.last_topup_at, features.last_charge_at) if t is not None]
    if amount is None:
        return insufficient("The amount of this top-up is not known.")
    if not seen:
        return insufficient("No earlier top-up or charge: there is no activity to have been dormant from.")
    idle = (features.as_of - max(seen)).days
    data = {"amount": amount, "idle_days": idle, "last_activity_at": max(seen)}
    text = (
        f"{money(amount, cur)} after {plural(idle, 'day')} without a top-up or charge "
        f"(thresholds {params['idle_days']} days, {money(params['min_amount'], cur)})."
    )
    if idle >= params["idle_days"] and amount >= params["min_amount"]:
        return hit(params["points"], text, **data)
    return no_hit(text, **data)
