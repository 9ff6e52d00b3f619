"""Rule 15a: a charge or service order far above the client's usual spending (the average charge
of the last 91 days), once there are at least ``min_history`` charges to know "usual" from."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aml.rules.base import (
    CHARGE,
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
from aml.rules.wording import money, ratio


@rule(
    "unusual_charge",
    "Charge far above the usual spending",
    subjects={CHARGE},
    points=25,
    multiple=DecimalParam("5", low="1", high="1000", help="times the average charge of 91 days"),
    min_amount=DecimalParam("100.00", help="smallest charge the rule looks at (account currency)"),
    min_history=IntParam(3, low=1, high=1000, help="charges in 91 days needed to know the usual"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    amount, count, total, cur = (
        subject.amount,
        features.charges_91d,
        features.charge_sum_91d,
        subject.currency,
    )
    if amount is None or count is None or total is None:
        return insufficient("The client's charges of the last 91 days are not known.")
    if count < params["min_history"]:
        return insufficient(
            f"{count} charges in the last 91 days: too few to know the usual spending "
            f"(needs {params['min_history']}).",
            charges_91d=count,
        )
    average = total / count
    times = amount / average
    data = {"amount": amount, "average_91d": average.quantize(Decimal("0.01")), "charges_91d": count}
    text = (
        f"Charge of {money(amount, cur)} is {ratio(times)} the client's average charge of "
        f"{money(average, cur)} over 91 days (threshold {ratio(params['multiple'])}, "
        f"at least {money(params['min_amount'], cur)})."
    )
    if amount > average * params["multiple"] and amount >= params["min_amount"]:
        return hit(params["points"], text, **data)
    return no_hit(text, **data)
