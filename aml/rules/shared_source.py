"""Rule 10: one source address funding several clients (possible third-party payment means,
forbidden by the operator's policy, 17.1). The count of other clients is capped by the query at
``aml.history.SOURCE_CLIENTS_CAP`` (an exchange's hot wallet would otherwise be counted in full)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.rules.base import DEPOSIT, Features, IntParam, RuleResult, Subject, hit, insufficient, no_hit, rule
from aml.rules.wording import plural


@rule(
    "shared_source",
    "Source address funding several clients",
    subjects={DEPOSIT},
    points=25,
    min_clients=IntParam(2, low=2, high=100, help="clients funded by one address, this one included"),
)
def RULE(subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    if not subject.counterparty:
        return insufficient("The source address is not known (several inputs): it cannot be compared.")
    if features.source_other_clients is None:
        return insufficient(f"It is not known which clients {subject.counterparty} funded.")
    clients = features.source_other_clients + 1
    text = (
        f"The source address {subject.counterparty} funded {plural(clients, 'client')}, this one included "
        f"(threshold {params['min_clients']})."
    )
    data = {"address": subject.counterparty, "clients": clients}
    if clients >= params["min_clients"]:
        return hit(params["points"], text + " Possibly a third party's payment means.", **data)
    return no_hit(text, **data)
