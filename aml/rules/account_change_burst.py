"""Rule 17: many account changes (payout address, e-mail, Telegram link) in 24 h, this one
included: credentials being rotated after a takeover, or a mule account being re-pointed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import (
    ACCOUNT_CHANGE,
    Features,
    IntParam,
    RuleResult,
    Subject,
    hit,
    insufficient,
    no_hit,
    rule,
)
from aml.rules.wording import ordinal


@rule(
    "account_change_burst",
    "Many account changes in 24 h",
    subjects={ACCOUNT_CHANGE},
    points=40,
    min_changes=IntParam(3, low=2, high=100, help="changes in 24 h"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if features.account_changes_24h is None:
        return insufficient("The account's recent changes are not known.")
    count = features.account_changes_24h + 1
    text = f"{ordinal(count)} account change in 24 h (threshold {params['min_changes']})."
    return hit(params["points"], text, changes_24h=count) if count >= params["min_changes"] else no_hit(text)
