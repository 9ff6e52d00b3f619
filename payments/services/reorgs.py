"""Deep reorgs: a credited transfer whose block left the chain.

A reorg shallower than the confirmations never touches credited money (``deposit_reorg`` handles
pending ones). A deeper one can orphan the block of a deposit that was already credited. The
transfer may well be mined again in the new branch (it was valid), so nothing is reversed at once:

1. ``deposit_orphan`` records the head at which the block was found orphaned, clears the block
   fields and raises a ``deep_reorg`` alert for operators. A rescan that sees the transfer again
   simply fills its new block in (``deposit_observe``) and the matter ends there.
2. ``orphans_settle`` reverses the credit of deposits still missing once the new branch has grown
   by the network's confirmations past the orphaning: the ledger reversal is one transaction with
   its own key, the deposit goes ``credited -> reversed``, the top-up's credited amount drops, and
   a top-up left with no credit at all becomes ``invalid``.
3. A reversal the client's balance cannot cover (the money was spent, or a reviewer already
   released part of a hold) is not forced: the ledger never goes negative. A ``reversal_blocked``
   alert asks an operator to decide (recover the debt, freeze the account).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from nexora.common.errors import InsufficientFunds
from payments.models import (
    AlertKind,
    Deposit,
    DepositStatus,
    HoldStatus,
    Network,
    OperatorAlert,
    TopUp,
    TopUpStatus,
)
from payments.services.deposits import deposit_ledger_key, deposit_transition
from payments.services.holds import hold_transition
from payments.services.ledger import ledger_reverse
from payments.services.topups import topup_lock, topup_settle, topup_transition

logger = logging.getLogger(__name__)


def alert_raise(*, kind: str, deposit: Deposit, message: str) -> OperatorAlert:
    """Raise an alert once per (kind, deposit); later calls return the first."""
    logger.error("%s: %s", kind, message)
    alert, _ = OperatorAlert.objects.get_or_create(
        kind=kind, deposit=deposit, defaults={"network_id": deposit.network_id, "message": message}
    )
    return alert


@transaction.atomic
def deposit_orphan(*, deposit: Deposit, head: int) -> Deposit:
    """A credited deposit's block was orphaned: remember when, wait for it to be mined again."""
    deposit = Deposit.objects.select_for_update().get(pk=deposit.pk)
    if deposit.status != DepositStatus.CREDITED or deposit.orphaned_at_head is not None:
        return deposit
    fields = {"orphaned_at_head": head, "block_height": None, "block_hash": "", "confirmations": 0}
    Deposit.objects.filter(pk=deposit.pk).update(**fields, updated_at=timezone.now())
    message = (
        f"Credited deposit {deposit.pk} ({deposit.tx_hash}) left the chain in a reorg deeper than the "
        f"confirmations; it is reversed unless mined again within {deposit.network.confirmations} blocks."
    )
    alert_raise(kind=AlertKind.DEEP_REORG, deposit=deposit, message=message)
    for name, value in fields.items():
        setattr(deposit, name, value)
    return deposit


def _reverse_credit(deposit: Deposit) -> None:
    assert deposit.ledger_transaction is not None
    reason = "payment removed by a chain reorganisation"
    ledger_reverse(
        original=deposit.ledger_transaction,
        idempotency_key=deposit_ledger_key(deposit.pk, "reorg"),
        reason=reason,
    )


def _reverse_hold(deposit: Deposit) -> None:
    hold = deposit.hold
    assert hold is not None
    if hold.status != HoldStatus.ACTIVE or hold.remaining != hold.amount:
        raise InsufficientFunds("Part of the held funds was already released or captured.")
    _reverse_credit(deposit)
    hold_transition(hold, to=HoldStatus.CLOSED, reason="deposit reversed after a reorg", remaining=0)


def _topup_after_reversal(topup: TopUp, deposit: Deposit) -> None:
    assert deposit.credited_amount is not None
    topup.credited_amount -= deposit.credited_amount
    TopUp.objects.filter(pk=topup.pk).update(credited_amount=topup.credited_amount)
    still_credited = topup.deposits.filter(status=DepositStatus.CREDITED).exists()
    if topup.status == TopUpStatus.COMPLETED and not still_credited:
        topup_transition(
            topup, to=TopUpStatus.INVALID, reason="its payment was removed by a chain reorganisation"
        )
    else:
        topup_settle(topup, reason=f"deposit {deposit.pk} reversed")


@transaction.atomic
def deposit_reverse(*, deposit: Deposit) -> Deposit:
    """Reverse the credit of an orphaned deposit; a ``reversal_blocked`` alert if it cannot be covered."""
    topup = topup_lock(deposit.topup_id) if deposit.topup_id is not None else None
    deposit = (
        Deposit.objects.select_for_update(of=("self",))
        .select_related("hold", "ledger_transaction")
        .get(pk=deposit.pk)
    )
    if deposit.status != DepositStatus.CREDITED or deposit.orphaned_at_head is None:
        return deposit
    try:
        with transaction.atomic():
            if deposit.hold_id is not None:
                _reverse_hold(deposit)
            else:
                _reverse_credit(deposit)
    except InsufficientFunds as exc:
        message = (
            f"Deposit {deposit.pk} ({deposit.tx_hash}) left the chain but cannot be reversed: {exc.message}"
        )
        alert_raise(kind=AlertKind.REVERSAL_BLOCKED, deposit=deposit, message=message)
        return deposit
    deposit_transition(deposit, to=DepositStatus.REVERSED, reason="removed by a chain reorganisation")
    if topup is not None:
        _topup_after_reversal(topup, deposit)
    message = (
        f"Deposit {deposit.pk} ({deposit.tx_hash}) was reversed: {deposit.credited_amount} no longer exists."
    )
    alert_raise(kind=AlertKind.DEPOSIT_REVERSED, deposit=deposit, message=message)
    return deposit


def orphans_settle(*, network: Network, head: int) -> int:
    """Reverse credited deposits still missing ``confirmations`` blocks after they were orphaned."""
    due = Deposit.objects.filter(
        network=network,
        status=DepositStatus.CREDITED,
        orphaned_at_head__isnull=False,
        orphaned_at_head__lte=head - network.confirmations,
    )
    return sum(deposit_reverse(deposit=d).status == DepositStatus.REVERSED for d in due)
