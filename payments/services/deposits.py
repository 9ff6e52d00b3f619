"""Deposits: what the chain scanner (and the tx-hash lookup) report, recorded and credited once.

The scanner calls three services, all idempotent, all safe to run from any number of workers:

* ``deposit_observe(network=, transfer=, head=)`` records a transfer to an issued address (unique
  on network, tx hash and index), refreshes its block and confirmations, follows a re-mined
  transfer back from ``reorged``, and confirms it once it has enough confirmations;
* ``deposit_confirm(deposit=)`` moves ``pending -> confirmed`` and credits it;
* ``topup_credit(deposit=)`` values a confirmed deposit and posts it to the ledger exactly once:
  the ledger's idempotency key is ``deposit:<id>:credit`` and the deposit's status moves
  ``confirmed -> credited`` under the top-up's and the deposit's row locks.

And ``deposit_reorg(deposit=)`` for a transfer whose block was orphaned before it was credited.

Valuation (see ``payments.services.quotes``): a payment that arrived inside the quote window (the
earlier of when it was first seen and its block time) is worth its share of the locked quote;
one that arrived later, inside the monitoring window, is valued at the current rate and flagged
``paid_late``. Below the network minimum, after the monitoring window, or sent on another network
than the top-up's: recorded as ``unapplied`` for staff, never credited automatically.

Before money moves, AML is asked through the ``deposit_confirmed`` hook: ``ALLOW`` credits
``available``; anything stricter credits ``held`` (a hold sourced from deposits, so risky money
never touches ``available``) and flags the top-up ``on_hold``. A first sighting and a credit are
announced (``deposit_seen``, ``deposit_credited``) after commit, for notifications.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from nexora.common.errors import Conflict
from nexora.common.transitions import TransitionTable, transition_apply
from payments.chains.base import Transfer
from payments.hooks import DepositConfirmed, DepositCredited, DepositSeen, Verdict, announce, screen
from payments.models import (
    Deposit,
    DepositAddress,
    DepositStatus,
    LedgerTransaction,
    Network,
    ReviewFlag,
    TopUp,
    TopUpStatus,
    UnappliedReason,
)
from payments.services.holds import SOURCE_DEPOSITS, hold_place
from payments.services.ledger import ledger_credit
from payments.services.quotes import credit_value, rate_quote, window_credit_total
from payments.services.topups import topup_lock, topup_review_transition, topup_settle

D = DepositStatus
DEPOSIT_TRANSITIONS: TransitionTable = {
    D.PENDING: frozenset({D.CONFIRMED, D.REORGED, D.FAILED}),
    D.CONFIRMED: frozenset({D.CREDITED, D.UNAPPLIED, D.REORGED}),
    D.CREDITED: frozenset({D.REVERSED}),
    D.UNAPPLIED: frozenset({D.REORGED}),
    D.REORGED: frozenset({D.PENDING}),
    D.FAILED: frozenset(),
    D.REVERSED: frozenset({D.PENDING}),  # mined again after the reversal: seen, then settled anew
}


def deposit_transition(
    deposit: Deposit, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> Deposit:
    return transition_apply(
        deposit,
        table=DEPOSIT_TRANSITIONS,
        to=to,
        entity="deposit",
        actor=actor,
        reason=reason,
        extra_fields=fields,
    )


def _deposit_topup(address: DepositAddress, network: Network) -> TopUp | None:
    """The top-up a transfer pays: the address's, if it was issued for this very network."""
    topup = getattr(address, "topup", None)
    return topup if topup is not None and topup.network_id == network.pk else None


def _is_official(network: Network, transfer: Transfer) -> bool:
    return transfer.contract == network.token_contract


def _block_time(transfer: Transfer, block_time: datetime | None) -> datetime | None:
    return block_time if transfer.block_height is not None else None


def _deposit_get_or_create(
    network: Network, transfer: Transfer, address: DepositAddress, topup: TopUp | None, now: datetime
) -> Deposit:
    key = {"network": network, "tx_hash": transfer.tx_hash, "index": transfer.index}
    found = Deposit.objects.select_for_update().filter(**key).first()
    if found is not None:
        return found
    status = D.PENDING if transfer.success else D.FAILED
    try:
        with transaction.atomic():
            deposit = Deposit.objects.create(
                **key, address=address, client_id=address.client_id, topup=topup, sender=transfer.sender,
                amount=transfer.amount, status=status, seen_at=now,
            )  # fmt: skip
    except IntegrityError:  # another worker recorded it first
        return Deposit.objects.select_for_update().get(**key)
    announce("deposit_seen", DepositSeen(
        deposit_id=deposit.pk, client_id=deposit.client_id, topup_id=deposit.topup_id, network=network.code,
        tx_hash=deposit.tx_hash, units=deposit.amount,
    ))  # fmt: skip
    return deposit


def _deposit_refresh(
    deposit: Deposit, transfer: Transfer, head: int | None, block_time: datetime | None
) -> None:
    if deposit.status in (D.REORGED, D.REVERSED) and transfer.block_height is not None:
        deposit_transition(deposit, to=D.PENDING, reason=f"re-mined in block {transfer.block_height}")
    if deposit.status == D.PENDING and not transfer.success:
        deposit_transition(deposit, to=D.FAILED, reason="the transaction reverted on chain")
        return
    height = transfer.block_height
    confirmations = max(0, head - height + 1) if height is not None and head is not None else 0
    fields = {
        "block_height": height,
        "block_hash": transfer.block_hash or "",
        "block_time": block_time or deposit.block_time,
        "confirmations": confirmations
        if deposit.status in (D.PENDING, D.CONFIRMED)
        else deposit.confirmations,
        # mined again after a deep reorg orphaned it: the credit stands (see payments.services.reorgs)
        "orphaned_at_head": None if height is not None else deposit.orphaned_at_head,
    }
    changed = {k: v for k, v in fields.items() if getattr(deposit, k) != v}
    if changed:
        Deposit.objects.filter(pk=deposit.pk).update(**changed, updated_at=timezone.now())
        for name, value in changed.items():
            setattr(deposit, name, value)


@transaction.atomic
def deposit_observe(
    *,
    network: Network,
    transfer: Transfer,
    head: int | None,
    block_time: datetime | None = None,
    now: datetime | None = None,
) -> Deposit | None:
    """Record or refresh a transfer to one of our addresses; ``None`` if it is not ours to credit."""
    if not _is_official(network, transfer):
        return None
    address = DepositAddress.objects.filter(family=network.family, address=transfer.recipient).first()
    if address is None:
        return None
    topup = _deposit_topup(address, network)
    if topup is not None:
        topup = topup_lock(topup.pk)  # every deposit change of one top-up queues on this lock
    deposit = _deposit_get_or_create(network, transfer, address, topup, now or timezone.now())
    _deposit_refresh(deposit, transfer, head, _block_time(transfer, block_time))
    if topup is not None:
        topup_settle(topup, reason=f"payment {transfer.tx_hash} seen")
    if deposit.status == D.PENDING and deposit.confirmations >= network.confirmations:
        deposit_confirm(deposit=deposit)
    return deposit


@transaction.atomic
def deposit_confirm(*, deposit: Deposit) -> Deposit:
    """``pending -> confirmed``, then credit. Repeating it changes nothing."""
    if deposit.topup_id is not None:
        topup_lock(deposit.topup_id)
    deposit = Deposit.objects.select_for_update().get(pk=deposit.pk)
    if deposit.status == D.PENDING:
        deposit_transition(
            deposit, to=D.CONFIRMED, reason="enough confirmations", confirmed_at=timezone.now()
        )
    return topup_credit(deposit=deposit)


def _arrived_at(deposit: Deposit) -> datetime:
    return min(deposit.seen_at, deposit.block_time) if deposit.block_time else deposit.seen_at


def _unapplied_reason(deposit: Deposit, topup: TopUp | None) -> str:
    if topup is None:
        return UnappliedReason.OTHER_NETWORK
    if deposit.amount < deposit.network.min_amount:
        return UnappliedReason.BELOW_MINIMUM
    if topup.status == TopUpStatus.INVALID:
        return UnappliedReason.TOPUP_CLOSED
    if _arrived_at(deposit) > topup.monitor_until:
        return UnappliedReason.AFTER_MONITORING
    return UnappliedReason.NONE


def _valuation(deposit: Deposit, topup: TopUp) -> tuple[Decimal, Decimal, bool]:
    """(fiat to credit, rate used, late?) for a deposit of ``topup``."""
    network, currency = topup.network, topup.currency
    if _arrived_at(deposit) > topup.expires_at:
        rate = rate_quote(network=network, currency=currency).value
        return credit_value(units=deposit.amount, rate=rate, network=network, currency=currency), rate, True
    earlier = topup.deposits.filter(status=D.CREDITED, late=False, network_id=network.pk)
    before = sum(d.amount for d in earlier.exclude(pk=deposit.pk))
    quote = {"quoted_units": topup.crypto_amount, "amount": topup.amount, "rate": topup.rate}
    after = window_credit_total(units=before + deposit.amount, network=network, currency=currency, **quote)
    prior = window_credit_total(units=before, network=network, currency=currency, **quote)
    return after - prior, topup.rate, False


def deposit_ledger_key(deposit_id: int, action: str) -> str:
    """``deposit:<id>:credit`` / ``deposit:<id>:reorg``; after k reversals a deposit mined again is
    credited (and maybe reversed) under ``:<k+1>``, so an idempotent key never swallows new money."""
    rounds = LedgerTransaction.objects.filter(
        idempotency_key__startswith=f"deposit:{deposit_id}:reorg"
    ).count()
    return f"deposit:{deposit_id}:{action}" + (f":{rounds + 1}" if rounds else "")


def _post(deposit: Deposit, topup: TopUp, value: Decimal, late: bool) -> dict[str, Any]:
    """Ask AML, then credit available or held; returns the deposit fields that record it."""
    key = deposit_ledger_key(deposit.pk, "credit")
    fact = DepositConfirmed(
        deposit_id=deposit.pk, client_id=topup.client_id, topup_id=topup.pk, network=topup.network.code,
        tx_hash=deposit.tx_hash, sender=deposit.sender, units=deposit.amount, amount=value,
        currency=topup.currency, late=late,
    )  # fmt: skip
    reference = f"topup:{topup.public_id}"
    if screen("deposit_confirmed", fact) == Verdict.ALLOW:
        txn = ledger_credit(client=topup.client, amount=value, idempotency_key=key, reference=reference,
                            description=f"Top-up via {topup.network.name}")  # fmt: skip
        return {"ledger_transaction": txn}
    hold = hold_place(client=topup.client, amount=value, idempotency_key=key, reason="Deposit under review",
                      reference=reference, source=SOURCE_DEPOSITS)  # fmt: skip
    if topup.review != ReviewFlag.ON_HOLD:
        topup_review_transition(topup, to=ReviewFlag.ON_HOLD, reason=f"deposit {deposit.pk} held for review")
    return {"hold": hold, "ledger_transaction": LedgerTransaction.objects.get(idempotency_key=key)}


def _credit(deposit: Deposit, topup: TopUp) -> None:
    value, rate, late = _valuation(deposit, topup)
    if value <= 0:
        reason = "worth less than the currency's smallest unit"
        deposit_transition(
            deposit, to=D.UNAPPLIED, reason=reason, unapplied_reason=UnappliedReason.BELOW_MINIMUM
        )
        return
    fields = _post(deposit, topup, value, late)
    deposit_transition(
        deposit, to=D.CREDITED, reason=f"credited {value} {topup.currency}", rate=rate, credited_amount=value,
        late=late, credited_at=timezone.now(), **fields,
    )  # fmt: skip
    topup.credited_amount += value
    TopUp.objects.filter(pk=topup.pk).update(credited_amount=topup.credited_amount)
    announce("deposit_credited", DepositCredited(
        deposit_id=deposit.pk, client_id=topup.client_id, topup_id=topup.pk, network=topup.network.code,
        amount=value, currency=topup.currency, held="hold" in fields,
    ))  # fmt: skip


@transaction.atomic
def topup_credit(*, deposit: Deposit) -> Deposit:
    """Credit a confirmed deposit once (or record why it is not credited); idempotent."""
    topup = topup_lock(deposit.topup_id) if deposit.topup_id is not None else None
    deposit = Deposit.objects.select_for_update(of=("self",)).select_related("network").get(pk=deposit.pk)
    if deposit.status != D.CONFIRMED:
        return deposit
    reason = _unapplied_reason(deposit, topup)
    if reason or topup is None:
        deposit_transition(deposit, to=D.UNAPPLIED, reason=f"not credited: {reason}", unapplied_reason=reason)
    else:
        _credit(deposit, topup)
    if topup is not None:
        topup_settle(topup, reason=f"deposit {deposit.pk} {deposit.status}")
    return deposit


@transaction.atomic
def deposit_reorg(*, deposit: Deposit, reason: str = "its block was orphaned") -> Deposit:
    """A transfer whose block left the chain before it was credited: ``reorged``; re-seen, it returns.

    A credited deposit cannot be un-credited here: that is a deep reorg, handled by the scanner's
    reversal path with an operator alert.
    """
    if deposit.topup_id is not None:
        topup_lock(deposit.topup_id)
    deposit = Deposit.objects.select_for_update().get(pk=deposit.pk)
    if deposit.status in (D.REORGED, D.FAILED):
        return deposit
    if deposit.status in (D.CREDITED, D.REVERSED):
        raise Conflict(
            "This deposit was already credited; a deeper reorg needs a reversal.", code="deep_reorg"
        )
    deposit_transition(deposit, to=D.REORGED, reason=reason, confirmations=0)
    if deposit.topup_id is not None:
        topup_settle(topup_lock(deposit.topup_id), reason=f"deposit {deposit.pk} reorged")
    return deposit


def utc_from_timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
