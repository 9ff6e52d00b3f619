"""Rule 2: the address is on the operator's own deny list. Not snoozable: an entry that should
not apply to a client is removed from the list instead, for everyone to see."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules._lists import list_result, screens_an_address
from aml.rules.base import ACCOUNT_CHANGE, DEPOSIT, PAYOUT, Features, RuleResult, Subject, rule


@rule(
    "deny_list",
    "Address on the operator's deny list",
    subjects={DEPOSIT, PAYOUT, ACCOUNT_CHANGE},
    points=100,
    applies=screens_an_address,
    snoozable=False,
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    return list_result(subject, features, params, which="deny", what="operator's deny list")
