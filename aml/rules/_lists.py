"""Shared shape of the two list rules (sanctions, the operator's deny list): which address of a
subject is screened, and how a match is described. Rules 1 and 2 differ only in the list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import (
    ACCOUNT_CHANGE,
    DEPOSIT,
    PAYOUT,
    Features,
    ListHit,
    RuleResult,
    Subject,
    error,
    hit,
    insufficient,
    no_hit,
)

ROLE = {DEPOSIT: "source address", PAYOUT: "payout destination", ACCOUNT_CHANGE: "new payout address"}


def screens_an_address(subject: Subject) -> bool:
    """Deposits and payouts always (an unknown sender is insufficient data); account changes only
    when the payout address changes (an e-mail is not on a chain list)."""
    return subject.type != ACCOUNT_CHANGE or subject.field == "payout_address"


def list_result(
    subject: Subject, features: Features, params: Mapping[str, Any], *, which: str, what: str
) -> RuleResult:
    role = ROLE.get(subject.type, "address")
    hits: tuple[ListHit, ...] | None = getattr(features, f"{which}_hits")
    if not subject.counterparty:
        return insufficient(f"The {role} is not known (several inputs, or none): it cannot be screened.")
    if which in features.lookup_errors:
        return error(f"The {what} could not be searched: {features.lookup_errors[which]}.")
    if hits is None:
        return insufficient(f"No {what} is loaded: the {role} {subject.counterparty} was not screened.")
    if not hits:
        return no_hit(f"The {role} {subject.counterparty} is on no {what}.", address=subject.counterparty)
    described = "; ".join(f"{h.list_name}: {h.entry}" + (f" ({h.detail})" if h.detail else "") for h in hits)
    data = [{"list": h.list_name, "entry": h.entry, "detail": h.detail} for h in hits]
    return hit(
        params["points"],
        f"The {role} {subject.counterparty} is on the {what}: {described}.",
        address=subject.counterparty,
        hits=data,
    )
