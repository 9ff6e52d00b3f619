"""Rule 7: a large first top-up on an account opened less than ``max_age_hours`` ago."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
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
from aml.rules.wording import duration, money


@rule(
    "new_account_large",
    "Large first top-up on a new account",
    subjects={DEPOSIT},
    points=25,
    max_age_hours=IntParam(24, low=1, high=24 * 90, help="an account younger than this is new"),
    min_amount=DecimalParam("1000.00", help="a first top-up at least this large (account currency)"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    amount, created, cur = subject.amount, features.account_created_at, subject.currency
    if amount is None or created is None:
        return insufficient("The account's opening time or the amount is not known.")
    age = features.as_of - created
    first = features.last_topup_at is None
    data = {"amount": amount, "account_age_s": int(age.total_seconds()), "first_topup": first}
    rule_text = f"thresholds {money(params['min_amount'], cur)} within {params['max_age_hours']} h"
    if not first:
        return no_hit(f"Not the client's first top-up ({rule_text}).", **data)
    text = f"First top-up, {money(amount, cur)}, on an account opened {duration(age)} ago ({rule_text})."
    if age < timedelta(hours=params["max_age_hours"]) and amount >= params["min_amount"]:
        return hit(params["points"], text, **data)
    return no_hit(text, **data)
