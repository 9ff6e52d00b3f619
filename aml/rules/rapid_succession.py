"""Rule 5, rapid succession: a top-up less than ``minutes`` after the client's previous one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aml.rules.base import DEPOSIT, Features, IntParam, RuleResult, Subject, hit, insufficient, no_hit, rule
from aml.rules.wording import duration


@rule(
    "rapid_succession",
    "Top-up right after the previous one",
    subjects={DEPOSIT},
    points=15,
    minutes=IntParam(5, low=1, high=1440, help="minimum gap between two top-ups"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if features.last_topup_at is None:
        return insufficient("First top-up of this client: there is no previous one to compare with.")
    gap = features.as_of - features.last_topup_at
    data = {"previous_at": features.last_topup_at, "gap_s": int(gap.total_seconds())}
    if gap < timedelta(minutes=params["minutes"]):
        return hit(
            params["points"],
            f"Top-up {duration(gap)} after the previous one (threshold {params['minutes']} min).",
            **data,
        )
    return no_hit(f"Previous top-up {duration(gap)} earlier (threshold {params['minutes']} min).", **data)
