"""Reads for the inbox, the header's unread count and the deposit listeners.

Every read of a client's notifications is scoped to that client: another client's id is
``NotFound`` (a 404), never a 403 that would confirm the id exists.

``deposit_notice`` is the one read of payments' data: what the client already knows about a
deposit (amount and asset, the network's name, the top-up it paid), and whether it is on its way
to being credited: not when it failed on chain, paid no top-up of its network, or is below the
network's minimum (those wait for staff, and the top-up page says so). ``payout_notice`` is the
same for a refund: the crypto amount the client will receive, the asset and the network's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from aml.notifications.models import Notification
from nexora.accounts.models import ClientProfile
from nexora.common.errors import NotFound
from payments.models import Deposit, DepositStatus, PayoutRequest


def notifications_for_client(*, client: ClientProfile, unread_only: bool = False) -> QuerySet[Notification]:
    rows = Notification.objects.filter(client=client).order_by("-created_at", "-id")
    return rows.filter(read_at__isnull=True) if unread_only else rows


def notification_for_client(*, client: ClientProfile, notification_id: Any) -> Notification:
    try:
        return Notification.objects.get(client=client, pk=int(notification_id))
    except (Notification.DoesNotExist, TypeError, ValueError, OverflowError):
        raise NotFound("No such notification.") from None


def unread_count(*, client_id: int) -> int:
    return Notification.objects.filter(client_id=client_id, read_at__isnull=True).count()


@dataclass(frozen=True)
class DepositNotice:
    creditable: bool
    params: dict[str, str]


def deposit_notice(*, deposit_id: int) -> DepositNotice | None:
    deposit = Deposit.objects.select_related("network", "topup").filter(pk=deposit_id).first()
    if deposit is None:
        return None
    network = deposit.network
    params = {"amount": network.display(deposit.amount), "asset": network.asset, "network": network.name}
    if deposit.topup is not None:
        params["topup"] = str(deposit.topup.public_id)
    creditable = (
        deposit.status != DepositStatus.FAILED
        and deposit.topup is not None
        and deposit.amount >= network.min_amount
    )
    return DepositNotice(creditable=creditable, params=params)


def payout_notice(*, payout_id: int) -> dict[str, str] | None:
    payout = PayoutRequest.objects.select_related("network").filter(pk=payout_id).first()
    if payout is None:
        return None
    network = payout.network
    return {"amount": network.display(payout.units), "asset": network.asset, "network": network.name}
