"""Reads for top-ups and networks: scoped querysets and the derived values a client sees.

``topup_for_client`` answers 404 for another client's top-up (never 403: an id that is not yours
does not exist for you). The payment URI follows EIP-681 for EVM (native value in wei, or the
token's ``transfer`` with the recipient and base units), BIP-21 for Bitcoin (amount in BTC), and
is the bare address for TRON, whose wallets share no URI scheme.

``client_deposit_status`` is what the client is told about one payment: a held deposit reads
"under_review", never the reason (no tipping-off, ARCHITECTURE.md invariant 8).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Prefetch, QuerySet

from nexora.accounts.models import ClientProfile
from nexora.common.errors import NotFound
from payments.models import Deposit, DepositStatus, Network, ReviewFlag, TopUp, TopUpStatus

D = DepositStatus
_CLIENT_DEPOSIT_STATUS = {
    D.PENDING: "confirming",
    D.CONFIRMED: "confirming",
    D.CREDITED: "credited",
    D.UNAPPLIED: "received",
    D.FAILED: "failed",
    D.REORGED: "dropped",
    D.REVERSED: "reversed",
}
_SHOWN_DEPOSITS = (D.PENDING, D.CONFIRMED, D.CREDITED, D.UNAPPLIED, D.FAILED, D.REVERSED)


def networks_enabled() -> QuerySet[Network]:
    return Network.objects.filter(enabled=True).order_by("code")


def _with_deposits(qs: QuerySet[TopUp]) -> QuerySet[TopUp]:
    shown = Deposit.objects.filter(status__in=_SHOWN_DEPOSITS).order_by("created_at", "id")
    return qs.select_related("network", "address").prefetch_related(Prefetch("deposits", queryset=shown))


def topups_for_client(client: ClientProfile) -> QuerySet[TopUp]:
    return _with_deposits(TopUp.objects.filter(client=client).order_by("-created_at", "-id"))


def topup_for_client(client: ClientProfile, topup_id: Any) -> TopUp:
    try:
        public_id = UUID(str(topup_id))
    except ValueError:
        raise NotFound("No such top-up.") from None
    topup = topups_for_client(client).filter(public_id=public_id).first()
    if topup is None:
        raise NotFound("No such top-up.")
    return topup


def topup_get(topup_id: Any) -> TopUp:
    """Any client's top-up by its public id, for operator tools (commands); NotFound otherwise."""
    try:
        public_id = UUID(str(topup_id))
    except ValueError:
        raise NotFound(f"No top-up {topup_id!r}: give the id shown on its page or by the API.") from None
    topup = TopUp.objects.select_related("network", "address").filter(public_id=public_id).first()
    if topup is None:
        raise NotFound(f"No top-up {topup_id!r}.")
    return topup


def topup_payment_uri(topup: TopUp) -> str:
    network, address, units = topup.network, topup.address.address, topup.crypto_amount
    if network.family == "evm" and network.token_contract:
        target = f"{network.token_contract}@{network.chain_id}"
        return f"ethereum:{target}/transfer?address={address}&uint256={units}"
    if network.family == "evm":
        return f"ethereum:{address}@{network.chain_id}?value={units}"
    if network.family == "bitcoin":
        return f"bitcoin:{address}?amount={network.display(units)}"
    return address


def _deposits(topup: TopUp) -> list[Deposit]:
    return [d for d in topup.deposits.all() if d.network_id == topup.network_id]


def topup_confirmations(topup: TopUp) -> int:
    """Confirmations of the least-confirmed payment still confirming; N once all are credited."""
    waiting = [d.confirmations for d in _deposits(topup) if d.status in (D.PENDING, D.CONFIRMED)]
    if waiting:
        return min(min(waiting), topup.network.confirmations)
    credited = any(d.status == D.CREDITED for d in _deposits(topup))
    return topup.network.confirmations if credited else 0


def topup_paid_units(topup: TopUp) -> int:
    live = (D.PENDING, D.CONFIRMED, D.CREDITED)
    return sum(d.amount for d in _deposits(topup) if d.status in live)


def topup_under_review(topup: TopUp) -> bool:
    return topup.review == ReviewFlag.ON_HOLD


def client_deposit_status(deposit: Deposit) -> str:
    topup = deposit.topup
    if deposit.status == D.CREDITED and deposit.hold_id and topup and topup.review == ReviewFlag.ON_HOLD:
        return "under_review"
    return _CLIENT_DEPOSIT_STATUS[DepositStatus(deposit.status)]


def explorer_tx_url(network: Network, tx_hash: str) -> str:
    return network.explorer_tx_url.replace("{tx}", tx_hash) if network.explorer_tx_url else ""


def topup_is_open(topup: TopUp) -> bool:
    return topup.status in (TopUpStatus.AWAITING_PAYMENT, TopUpStatus.CONFIRMING)
