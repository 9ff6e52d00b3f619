"""Reads for refunds to source: where held money may go back to, and what the treasury must send.

``payout_source(hold)`` answers the question a reviewer asks before "refund to source": which
network and address the money came from, and whether that address can be trusted to reach the
client. It cannot when

* the sender is a known exchange hot wallet (``NEXORA_EXCHANGE_ADDRESSES`` and the file
  ``NEXORA_EXCHANGE_ADDRESSES_FILE``): money sent there lands in the exchange's pool, not with the
  client ("exchange_address");
* the sender paid several different clients (``NEXORA_SHARED_SOURCE_CLIENTS``, default 2): the
  same signature of a shared wallet, whether or not it is on the list ("shared_source");
* there is no single sender (a Bitcoin payment with several inputs: "no_single_sender"), or the
  held money did not come from a deposit at all ("no_deposit").

In those cases the refund needs an address the client gave and confirmed (``RefundAddress``).
A hold that a failed refund put back (``PayoutRequest.return_hold``) has the source of the money
it came from. ``hold_reserved`` is what requested (not yet approved) payouts already claim on a
hold: approval captures it, so releasing it meanwhile would make the approval fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet, Sum

from nexora.accounts.models import ClientProfile
from nexora.common.errors import NotFound, ValidationFailed
from payments.addresses import address_normalize
from payments.models import (
    Deposit,
    Hold,
    Network,
    PayoutRequest,
    PayoutStatus,
    RefundAddress,
    RefundAddressStatus,
)
from payments.selectors.ledger import exact_sum

EXCHANGE_ADDRESS = "exchange_address"
SHARED_SOURCE = "shared_source"
NO_SINGLE_SENDER = "no_single_sender"
NO_DEPOSIT = "no_deposit"


@dataclass(frozen=True)
class PayoutSource:
    """Where a hold's money came from; ``why`` is empty when a refund may go straight back."""

    network: Network | None
    address: str
    why: str

    @property
    def needs_client_address(self) -> bool:
        return bool(self.why)


def _configured_exchange_entries() -> list[str]:
    entries = [str(a) for a in settings.NEXORA_EXCHANGE_ADDRESSES]
    path = settings.NEXORA_EXCHANGE_ADDRESSES_FILE
    if path:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        entries += [line.split("#", 1)[0].strip() for line in lines]
    return [e for e in entries if e]


def exchange_addresses(family: str) -> frozenset[str]:
    """The configured exchange addresses valid for ``family``, in canonical spelling.

    An entry may be written ``family:address`` to pin its family; entries of other families (or
    not addresses at all) are ignored for this one."""
    found = set()
    for entry in _configured_exchange_entries():
        pinned, _, bare = entry.rpartition(":")
        if pinned and pinned != family:
            continue
        try:
            found.add(address_normalize(family, bare))
        except ValidationFailed:
            continue
    return frozenset(found)


def source_clients(network: Network, sender: str) -> int:
    """How many different clients ``sender`` paid on this chain family."""
    deposits = Deposit.objects.filter(network__family=network.family, sender=sender)
    return deposits.values("client").distinct().count()


def _origin_deposit(hold: Hold) -> Deposit | None:
    """The deposit whose money the hold keeps, following refunds that were put back."""
    seen = 0
    current: Hold | None = hold
    while current is not None and seen < 50:  # a chain of failed refunds is short; never loop forever
        deposit = Deposit.objects.filter(hold=current).select_related("network").first()
        if deposit is not None:
            return deposit
        returned = PayoutRequest.objects.filter(return_hold=current).select_related("hold").first()
        current = returned.hold if returned is not None else None
        seen += 1
    return None


def payout_source(hold: Hold) -> PayoutSource:
    deposit = _origin_deposit(hold)
    if deposit is None:
        return PayoutSource(network=None, address="", why=NO_DEPOSIT)
    network, sender = deposit.network, deposit.sender
    if not sender:
        return PayoutSource(network=network, address="", why=NO_SINGLE_SENDER)
    if sender in exchange_addresses(network.family):
        return PayoutSource(network=network, address=sender, why=EXCHANGE_ADDRESS)
    if source_clients(network, sender) >= settings.NEXORA_SHARED_SOURCE_CLIENTS:
        return PayoutSource(network=network, address=sender, why=SHARED_SOURCE)
    return PayoutSource(network=network, address=sender, why="")


def hold_reserved(hold: Hold) -> Decimal:
    """What requested payouts (not yet approved, so not yet captured) claim on ``hold``."""
    total = PayoutRequest.objects.filter(hold=hold, status=PayoutStatus.REQUESTED).aggregate(t=Sum("amount"))
    return exact_sum(total["t"], currency=hold.currency)


def refund_address_confirmed(client: ClientProfile, network: Network) -> RefundAddress | None:
    return RefundAddress.objects.filter(
        client=client, network=network, status=RefundAddressStatus.CONFIRMED
    ).first()


def refund_addresses_for_client(client: ClientProfile) -> QuerySet[RefundAddress]:
    return (
        RefundAddress.objects.filter(client=client).select_related("network").order_by("-created_at", "-id")
    )


def payouts_to_send() -> QuerySet[PayoutRequest]:
    """Approved payouts the treasury has not sent yet, oldest approval first."""
    return (
        PayoutRequest.objects.filter(status=PayoutStatus.APPROVED)
        .select_related("network", "client__user", "approved_by")
        .order_by("approved_at", "id")
    )


def payouts_in_flight() -> QuerySet[PayoutRequest]:
    """Sent payouts still being verified on chain."""
    return (
        PayoutRequest.objects.filter(status=PayoutStatus.SENT).select_related("network").order_by("sent_at")
    )


def payouts_for_holds(hold_ids: list[int]) -> QuerySet[PayoutRequest]:
    return (
        PayoutRequest.objects.filter(hold_id__in=hold_ids)
        .select_related("network", "requested_by", "approved_by", "sent_by", "rejected_by")
        .order_by("created_at", "id")
    )


def payout_by_public_id(public_id: object) -> PayoutRequest:
    try:
        key = UUID(str(public_id))
    except ValueError:
        raise NotFound("No such refund.") from None
    payout = PayoutRequest.objects.select_related("network", "client").filter(public_id=key).first()
    if payout is None:
        raise NotFound("No such refund.")
    return payout


def payouts_recent(limit: int = 50) -> QuerySet[PayoutRequest]:
    """Refunds that finished (confirmed or failed) most recently, for the treasury's page."""
    finished = (PayoutStatus.CONFIRMED, PayoutStatus.FAILED)
    return (
        PayoutRequest.objects.filter(status__in=finished)
        .select_related("network")
        .order_by("-finished_at")[:limit]
    )
