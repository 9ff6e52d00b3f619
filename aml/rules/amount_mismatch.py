"""Rule 13: the payment does not match its quote: underpaid or overpaid beyond ``tolerance`` (all
the top-up's credited payments so far plus this one, against the quoted base units), and/or paid
after the quote window. Each of the two counts ``points``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
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
from aml.rules.wording import percent


@rule(
    "amount_mismatch",
    "Paid amount or time differs from the quote",
    subjects={DEPOSIT},
    points=10,
    tolerance=DecimalParam("0.02", low="0", high="1", help="allowed difference, share of the quote"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    quoted, prior = features.topup_quoted_units, features.topup_prior_units
    if subject.topup_id is None or subject.units is None or not quoted or prior is None:
        return insufficient("The payment has no quote to be compared with.")
    paid = prior + subject.units
    share = Decimal(paid - quoted) / Decimal(quoted)
    findings = []
    if abs(share) > params["tolerance"]:
        findings.append(f"{'overpaid' if share > 0 else 'underpaid'} by {percent(abs(share))}")
    if subject.late:
        findings.append("paid after the quote window")
    data = {
        "paid_units": str(paid),
        "quoted_units": str(quoted),
        "difference": percent(share),
        "late": subject.late,
    }
    if findings:
        text = f"{'; '.join(findings).capitalize()} (tolerance {percent(params['tolerance'])})."
        return hit(params["points"] * len(findings), text, **data)
    off = (
        "exactly the quote"
        if not share
        else f"{percent(abs(share))} {'over' if share > 0 else 'under'} the quote"
    )
    return no_hit(
        f"Paid {off}, inside the quote window (tolerance {percent(params['tolerance'])}).",
        **data,
    )
