"""Rule 6: a top-up above ``multiple`` times the client's largest top-up of the last 91 days (and
at least ``min_amount``, so 1.5x of a few dollars is not news)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import (
    DEPOSIT,
    DecimalParam,
    Features,
    RuleResult,
    Subject,
    hit,
    insufficient,
    no_hit,
    rule,
)
from aml.rules.wording import money, ratio


@rule(
    "large_amount",
    "Top-up far above the client's largest",
    subjects={DEPOSIT},
    points=20,
    multiple=DecimalParam("1.5", low="1", high="1000", help="times the largest top-up of 91 days"),
    min_amount=DecimalParam("100.00", help="smallest amount the rule looks at (account currency)"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    amount, largest, cur = subject.amount, features.topup_max_91d, subject.currency
    if amount is None:
        return insufficient("The amount of this top-up is not known.")
    if largest is None:
        return insufficient("No top-up in the last 91 days: there is no largest amount to compare with.")
    times = amount / largest
    data = {"amount": amount, "largest_91d": largest, "times": ratio(times)}
    text = (
        f"{money(amount, cur)} is {ratio(times)} the client's largest top-up of the last 91 days "
        f"({money(largest, cur)}); threshold {ratio(params['multiple'])}, "
        f"at least {money(params['min_amount'], cur)}."
    )
    if amount > largest * params["multiple"] and amount >= params["min_amount"]:
        return hit(params["points"], text, **data)
    return no_hit(text, **data)
