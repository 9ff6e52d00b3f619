"""Rule 1: the source address (or payout destination, or new payout address) is on a sanctions
list, whatever the amount. A hit bypasses the score: the engine freezes the account and marks the
case ``sanctions`` (no refund to source). It can be neither disabled nor snoozed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules._lists import list_result, screens_an_address
from aml.rules.base import ACCOUNT_CHANGE, DEPOSIT, PAYOUT, Features, RuleResult, Subject, rule


@rule(
    "sanctions_list",
    "Address on a sanctions list",
    subjects={DEPOSIT, PAYOUT, ACCOUNT_CHANGE},
    points=100,
    applies=screens_an_address,
    snoozable=False,
    can_disable=False,
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    return list_result(subject, features, params, which="sanctions", what="sanctions list")
