"""Deposits: what the chain scanner (and the tx-hash lookup) report, recorded and credited once.

Recording and crediting are apart, so a busy chain never waits for the ledger:

* ``payments.services.recording.deposits_record`` is the scanner's: it records a scanned range's
  transfers to issued addresses inside the scan transaction, set-based (one
  ``INSERT ... ON CONFLICT (network, tx_hash, index) DO NOTHING`` for the new ones), and sends
  the few already-recorded transfers whose block changed (a reorg re-mined them, a lookup saw them
  in the mempool) through ``deposit_observe``. It credits nothing.
* ``deposit_credit(deposit_id=, block_hash=)`` then moves one deposit forward in its own short
  transaction (the ``payments.deposit_credit`` task): under the top-up's and the deposit's row
  locks (taken once, in that order) it confirms a pending deposit whose block the scanner vouched
  for (``block_hash``: the hash it found on the chain; an empty hash only settles the top-up),
  credits a confirmed one and settles the top-up once;
* ``deposit_observe(network=, transfer=, head=)`` records or refreshes one transfer (the lookup's
  path, and the scanner's for changed blocks) and, unless ``credit=False``, confirms and credits
  it at once when it has enough confirmations;
* ``topup_credit(deposit=)`` credits a confirmed deposit; ``deposit_reorg(deposit=)`` handles a
  transfer whose block was orphaned before it was credited.

Exactly once is the database's job, whatever runs twice: the transfer key is unique, the ledger's
idempotency key is ``deposit:<id>:credit`` and every status move is a compare-and-set under the
row locks (``deposit_transition``).

Valuation (see ``payments.services.quotes``): a payment that arrived inside the quote window (the
earlier of when it was first seen and its block time) is worth its share of the locked quote;
one that arrived later, inside the monitoring window, is valued at the current rate and flagged
``paid_late``. Below the network minimum, after the monitoring window, or sent on another network
than the top-up's: recorded as ``unapplied`` for staff, never credited automatically.

Before money moves, AML is asked through the ``deposit_confirmed`` hook: ``ALLOW`` credits
``available``; anything stricter credits ``held`` (a hold sourced from deposits, so risky money
never touches ``available``) and flags the top-up ``on_hold``. A first sighting and a credit are
announced (``deposit_seen``, ``deposit_credited``) after commit, for notifications: once per
deposit (the insert that created it) and once per credit.
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


def deposit_topup(address: DepositAddress, network: Network) -> TopUp | None:
    """The top-up a transfer pays: the address's, if it was issued for this very network."""
    topup = getattr(address, "topup", None)
    return topup if topup is not None and topup.network_id == network.pk else None


def is_official(network: Network, transfer: Transfer) -> bool:
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
    deposit_seen_announce(deposit, network)
    return deposit


def deposit_seen_announce(deposit: Deposit, network: Network) -> None:
    """``deposit_seen`` after commit; called once per deposit, by whichever insert created it."""
    announce("deposit_seen", DepositSeen(
        deposit_id=deposit.pk, client_id=deposit.client_id, topup_id=deposit.topup_id, network=network.code,
        tx_hash=deposit.tx_hash, units=deposit.amount,
    ))  # fmt: skip


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
    credit: bool = True,
) -> Deposit | None:
    """Record or refresh a transfer to one of our addresses; ``None`` if it is not ours to credit.

    With ``credit`` (the default) a transfer with enough confirmations is confirmed and credited in
    the same transaction; the scanner passes ``credit=False`` and hands crediting to its task."""
    if not is_official(network, transfer):
        return None
    address = DepositAddress.objects.filter(family=network.family, address=transfer.recipient).first()
    if address is None:
        return None
    topup = deposit_topup(address, network)
    if topup is not None:
        topup = topup_lock(topup.pk)  # every deposit change of one top-up queues on this lock
    deposit = _deposit_get_or_create(network, transfer, address, topup, now or timezone.now())
    deposit.network = network
    _deposit_refresh(deposit, transfer, head, _block_time(transfer, block_time))
    if credit:
        _advance(deposit, topup, block_hash=deposit.block_hash)
    if topup is not None:
        topup_settle(topup, reason=f"payment {transfer.tx_hash} {deposit.status}")
    return deposit


def _locked(deposit_id: int) -> tuple[Deposit, TopUp | None]:
    """The deposit and its top-up, row-locked in the order every deposit service uses (top-up first)."""
    topup_id = Deposit.objects.values_list("topup_id", flat=True).get(pk=deposit_id)
    topup = topup_lock(topup_id) if topup_id is not None else None
    deposit = Deposit.objects.select_for_update(of=("self",)).select_related("network").get(pk=deposit_id)
    return deposit, topup


def _advance(deposit: Deposit, topup: TopUp | None, *, block_hash: str) -> None:
    """On locked rows: confirm a pending deposit of ``block_hash`` with enough confirmations, then
    credit a confirmed one (or record why it is not credited)."""
    enough = deposit.confirmations >= deposit.network.confirmations
    if deposit.status == D.PENDING and block_hash and deposit.block_hash == block_hash and enough:
        now = timezone.now()
        deposit_transition(deposit, to=D.CONFIRMED, reason="enough confirmations", confirmed_at=now)
    if deposit.status != D.CONFIRMED:
        return
    reason = _unapplied_reason(deposit, topup)
    if reason or topup is None:
        deposit_transition(deposit, to=D.UNAPPLIED, reason=f"not credited: {reason}", unapplied_reason=reason)
    else:
        _credit(deposit, topup)


@transaction.atomic
def deposit_credit(*, deposit_id: int, block_hash: str = "") -> Deposit:
    """Move one deposit as far as it can go, in one short transaction; idempotent.

    ``block_hash`` is the block the scanner found the deposit in, still on the chain with enough
    confirmations; a pending deposit is confirmed only if it is still recorded in that block. An
    empty ``block_hash`` confirms nothing (a first sighting: the top-up only moves to
    ``confirming``). A confirmed deposit is credited; the top-up is settled once."""
    deposit, topup = _locked(deposit_id)
    _advance(deposit, topup, block_hash=block_hash)
    if topup is not None:
        topup_settle(topup, reason=f"deposit {deposit.pk} {deposit.status}")
    return deposit


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
    locked, topup = _locked(deposit.pk)
    if locked.status != D.CONFIRMED:
        return locked
    _advance(locked, topup, block_hash="")
    if topup is not None:
        topup_settle(topup, reason=f"deposit {locked.pk} {locked.status}")
    return locked


@transaction.atomic
def deposit_reorg(*, deposit: Deposit, reason: str = "its block was orphaned") -> Deposit:
    """A transfer whose block left the chain before it was credited: ``reorged``; re-seen, it returns.

    A credited deposit cannot be un-credited here: that is a deep reorg, handled by the scanner's
    reversal path with an operator alert.
    """
    deposit, topup = _locked(deposit.pk)
    if deposit.status in (D.REORGED, D.FAILED):
        return deposit
    if deposit.status in (D.CREDITED, D.REVERSED):
        raise Conflict(
            "This deposit was already credited; a deeper reorg needs a reversal.", code="deep_reorg"
        )
    deposit_transition(deposit, to=D.REORGED, reason=reason, confirmations=0)
    if topup is not None:
        topup_settle(topup, reason=f"deposit {deposit.pk} reorged")
    return deposit


def utc_from_timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
