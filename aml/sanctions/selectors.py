"""Reads of sanctions data. Matching goes through the in-process snapshot (``snapshot.py``).

Address identity is per family, by ``canonical_address``: EVM addresses compare
case-insensitively (EIP-55 case is only a checksum), TRON and legacy Bitcoin base58 exactly,
bech32 lower-cased (BIP-173), everything else exactly. So ``sanctions_match`` finds an ETH listing
whatever the case of the input, but a TRON or base58 Bitcoin address only when it is spelled
exactly as listed. Bad input (blank, several tokens, mixed-case bech32) raises
``ValidationFailed(code="invalid_address")``.
"""

from __future__ import annotations

from django.db.models import QuerySet

from aml.sanctions.models import DenyListEntry, DenyListStatus, SanctionedAddress, SanctionsImport
from aml.sanctions.normalize import canonical_address
from aml.sanctions.snapshot import DenyHit, SanctionHit, holder

__all__ = ["DenyHit", "SanctionHit", "denylist_match", "sanctions_match"]


def sanctions_match(address: str) -> tuple[SanctionHit, ...]:
    """Every active OFAC listing of ``address`` (empty when it is not listed)."""
    return holder.current().sanctions.get(canonical_address(address), ())


def denylist_match(address: str) -> DenyHit | None:
    """The active deny-list entry of ``address``, or None."""
    return holder.current().deny.get(canonical_address(address))


def sanctions_import_latest() -> SanctionsImport | None:
    return SanctionsImport.objects.order_by("-id").first()


def sanctioned_address_history(address: str) -> QuerySet[SanctionedAddress]:
    """Every listing period of ``address``, active or delisted, oldest first (for case review)."""
    return SanctionedAddress.objects.filter(address=canonical_address(address)).order_by("id")


def denylist_active() -> QuerySet[DenyListEntry]:
    return DenyListEntry.objects.filter(status=DenyListStatus.ACTIVE).order_by("-added_at", "-id")
