"""Rule 18: money arriving on an account that is already frozen (or terminated) pending review
joins that review instead of becoming available."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import DEPOSIT, Features, RuleResult, Subject, hit, insufficient, no_hit, rule


@rule("frozen_account", "Money for a restricted account", subjects={DEPOSIT}, points=40)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if features.account_status is None:
        return insufficient("The account's status is not known.")
    if features.account_status != "active":
        return hit(
            params["points"],
            f"The account is {features.account_status}: this money joins its review.",
            status=features.account_status,
        )
    return no_hit("The account is active.")
