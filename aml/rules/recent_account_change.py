"""Rule 15b: a charge, service order or payout from an account whose payout address or e-mail
changed less than ``hours`` ago (a taken-over account is changed first, then emptied)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aml.rules.base import (
    CHARGE,
    PAYOUT,
    Features,
    IntParam,
    RuleResult,
    Subject,
    hit,
    insufficient,
    no_hit,
    rule,
)
from aml.rules.wording import duration

FIELD_NAMES = {"payout_address": "payout address", "email": "e-mail"}


@rule(
    "recent_account_change",
    "Account changed shortly before",
    subjects={CHARGE, PAYOUT},
    points=25,
    hours=IntParam(24, low=1, high=24 * 30, help="how recent a change of payout address or e-mail counts"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if features.account_changes_24h is None:
        return insufficient("The account's recent changes are not known.")
    last = features.last_account_change_at
    if last is None or features.as_of - last >= timedelta(hours=params["hours"]):
        return no_hit(f"No change of payout address or e-mail in the last {params['hours']} h.")
    field = FIELD_NAMES.get(features.last_account_change_field, features.last_account_change_field)
    ago = duration(features.as_of - last)
    data = {"field": features.last_account_change_field, "changed_at": last}
    return hit(
        params["points"], f"The account's {field} changed {ago} ago (threshold {params['hours']} h).", **data
    )
