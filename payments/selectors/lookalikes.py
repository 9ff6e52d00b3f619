"""Reads of the look-alike token transfers recorded by the scanner, for the staff dashboard.

``lookalike_transfers`` lists them newest first with the network, address and client loaded (no
query per row); ``lookalike_contracts`` groups them by (network, contract): how many, to how many
distinct addresses, and when first and last seen, which is how a scam campaign shows up.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Min, QuerySet

from nexora.accounts.models import ClientProfile
from payments.models import LookalikeTransfer


def lookalike_transfers(
    *, network_code: str | None = None, client: ClientProfile | None = None
) -> QuerySet[LookalikeTransfer]:
    rows = LookalikeTransfer.objects.select_related("network", "address__client")
    rows = rows.order_by("-created_at", "-id")
    if network_code:
        rows = rows.filter(network__code=network_code)
    if client is not None:
        rows = rows.filter(address__client=client)
    return rows


def lookalike_contracts() -> list[dict[str, Any]]:
    """``[{network, contract, transfers, addresses, first_seen, last_seen}]``, most transfers first."""
    groups = (
        LookalikeTransfer.objects.values("network__code", "contract")
        .annotate(
            transfers=Count("id"),
            addresses=Count("address", distinct=True),
            first_seen=Min("created_at"),
            last_seen=Max("created_at"),
        )
        .order_by("-transfers", "network__code", "contract")
    )
    return [
        {"network": g["network__code"], "contract": g["contract"], "transfers": g["transfers"],
         "addresses": g["addresses"], "first_seen": g["first_seen"], "last_seen": g["last_seen"]}
        for g in groups
    ]  # fmt: skip
