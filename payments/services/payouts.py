"""Refunds to source: the request, the four-eyes approval, the treasury's hash, on-chain verification.

Lifecycle (``PAYOUT_TRANSITIONS``, through ``payout_transition``)::

    requested -> approved -> sent -> confirmed | failed
    requested -> rejected

Money (each step one ledger transaction whose idempotency key names the payout):

* request: nothing moves. The amount is reserved against the hold (``hold_reserved``), so two
  requests can never promise the same held money twice;
* approval: ``hold_capture`` moves it held -> refunds clearing (``payout:<id>:capture``);
* confirmation: refunds clearing -> payouts settled (``payout:<id>:settle``);
* failure: what the chain shows delivered (a share of the units) is settled the same way, and the
  rest goes back into ``held`` as a new hold (``payout:<id>:return``) for a new decision: money
  that did not leave is never lost in clearing, and money that left is never counted twice.

Who may do what: requesting and rejecting need ``payments.request_payout``; approving needs a
``compliance_lead`` who is not the requester (checked here and by the CHECK ``payout_four_eyes``);
recording the outgoing hash needs ``payments.send_payout`` (the treasury: the server holds no keys,
the treasury signs offline).

Where the money may go: back to the payment's source when ``payout_source`` trusts it, or to the
address the client gave and confirmed for that network (``refund_address_record`` then
``refund_address_activate``). Any other address is refused: a reviewer cannot type a destination.
Before anything is written the request is screened (``payout_requested``): ``REFUSE`` refuses it
with a neutral ``payout_refused``; ``REVIEW`` is recorded on the payout for the approver.

Verification (``payout_verify``) asks the network's adapter for the recorded transaction, restricted
to the destination. Confirmed when it paid at least ``units`` and has the network's confirmations;
failed when, that deep, it paid less (or reverted), or when it is still not on chain after
``NEXORA_PAYOUT_VERIFY_WINDOW_H`` hours. Anything else leaves it ``sent`` for the next check. The
chain is read before the payout's row lock is taken: no lock waits on a node.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from nexora.accounts.models import ClientProfile
from nexora.accounts.roles import COMPLIANCE_LEAD, user_has_role
from nexora.common.errors import (
    Conflict,
    IdempotencyConflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from nexora.common.money import currency_quantum, money_parse
from nexora.common.transitions import TransitionTable, transition_apply
from payments.addresses import address_normalize, tx_hash_validate
from payments.chains.base import ChainAdapter
from payments.hooks import AccountChanged, PayoutRequested, PayoutUpdate, Verdict, announce, screen
from payments.models import (
    DepositAddress,
    DestinationKind,
    Hold,
    HoldStatus,
    LedgerTransaction,
    Network,
    PayoutRequest,
    PayoutStatus,
    RefundAddress,
    RefundAddressStatus,
    SystemAccount,
    TransactionKind,
)
from payments.selectors.payouts import hold_reserved, payout_source, refund_address_confirmed
from payments.services.holds import SOURCE_REFUNDS, hold_capture, hold_place
from payments.services.ledger import Line, ledger_post, system_account
from payments.services.networks import network_spec
from payments.services.quotes import rate_quote, refund_units

P = PayoutStatus
PAYOUT_TRANSITIONS: TransitionTable = {
    P.REQUESTED: frozenset({P.APPROVED, P.REJECTED}),
    P.APPROVED: frozenset({P.SENT}),
    P.SENT: frozenset({P.CONFIRMED, P.FAILED}),
    P.CONFIRMED: frozenset(),
    P.FAILED: frozenset(),
    P.REJECTED: frozenset(),
}
R = RefundAddressStatus
REFUND_ADDRESS_TRANSITIONS: TransitionTable = {
    R.SUBMITTED: frozenset({R.CONFIRMED, R.SUPERSEDED}),
    R.CONFIRMED: frozenset({R.SUPERSEDED}),
    R.SUPERSEDED: frozenset(),
}
MAX_COMMENT = 2000


def payout_transition(
    payout: PayoutRequest, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> PayoutRequest:
    return transition_apply(
        payout,
        table=PAYOUT_TRANSITIONS,
        to=to,
        entity="payout",
        actor=actor,
        reason=reason,
        extra_fields=fields,
    )


def refund_address_transition(
    refund_address: RefundAddress, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> RefundAddress:
    return transition_apply(
        refund_address, table=REFUND_ADDRESS_TRANSITIONS, to=to, entity="refund_address", actor=actor,
        reason=reason, extra_fields=fields,
    )  # fmt: skip


def _require(actor: Any, perm: str, message: str) -> None:
    allowed = getattr(actor, "is_authenticated", False) and actor.is_staff and actor.has_perm(perm)
    if not allowed:
        raise PermissionDenied(message)


def _field_error(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [{"code": code, "message": message}]})


def _comment(text: object, field: str = "reason") -> str:
    value = text.strip() if isinstance(text, str) else ""
    if not value:
        raise _field_error(field, "comment_required", "Say why, for the audit trail.")
    if len(value) > MAX_COMMENT:
        raise _field_error(field, "comment_too_long", f"At most {MAX_COMMENT} characters.")
    return value


def _address_parse(network: Network, address: object, field: str) -> str:
    try:
        canonical = address_normalize(
            network.family, address if isinstance(address, str) else "", testnet=network.testnet
        )
    except ValidationFailed as exc:
        raise _field_error(field, exc.code, exc.message) from None
    if DepositAddress.objects.filter(family=network.family, address=canonical).exists():
        raise _field_error(field, "own_address", "This is one of our own deposit addresses.")
    return canonical


# --- request ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Destination:
    address: str
    kind: str
    refund_address: RefundAddress | None
    source: str


def _destination_resolve(
    *, client: ClientProfile, hold: Hold, network: Network, destination: object
) -> _Destination:
    address = _address_parse(network, destination, "destination")
    source = payout_source(hold)
    confirmed = refund_address_confirmed(client, network)
    if confirmed is not None and confirmed.address == address:
        return _Destination(address, DestinationKind.CLIENT_ADDRESS, confirmed, source.address)
    from_source = source.network is not None and source.network.pk == network.pk and source.address == address
    if from_source and not source.needs_client_address:
        return _Destination(address, DestinationKind.SOURCE, None, source.address)
    if source.needs_client_address:
        raise Conflict(
            "The payment's source cannot receive this refund for the client; the client must give and "
            "confirm a refund address first.",
            code="refund_address_required",
        )
    raise _field_error(
        "destination",
        "destination_not_allowed",
        "A refund goes back to the payment's source, or to an address the client confirmed.",
    )


def _hold_check(client: ClientProfile, hold: Hold, amount: Decimal) -> None:
    if hold.client_id != client.pk:
        raise NotFound("No such hold.")
    available = hold.remaining - hold_reserved(hold)
    if hold.status != HoldStatus.ACTIVE or amount > available:
        raise Conflict(
            f"Hold #{hold.pk} has {max(available, Decimal(0))} {hold.currency} left to refund.",
            code="hold_exceeded",
        )


def _replay(key: str, client: ClientProfile, hold: Hold, amount: Decimal) -> PayoutRequest | None:
    found = PayoutRequest.objects.filter(idempotency_key=key).first() if key else None
    if found is not None and (found.client_id, found.hold_id, found.amount) != (client.pk, hold.pk, amount):
        raise IdempotencyConflict()
    return found


def _screen(client: ClientProfile, amount: Decimal, network: Network, address: str, reason: str) -> Verdict:
    fact = PayoutRequested(client_id=client.pk, amount=amount, currency=client.currency, destination=address,
                           network=network.code, reason=reason)  # fmt: skip
    verdict = screen("payout_requested", fact)
    if verdict == Verdict.REFUSE:
        raise Conflict("This refund cannot be made.", code="payout_refused")
    return verdict


def payout_request(
    *,
    client: ClientProfile,
    hold: Hold,
    amount: object,
    destination: object,
    network: Network,
    reason: object,
    actor: Any,
    reference: str = "",
    idempotency_key: str = "",
) -> PayoutRequest:
    """Ask for ``amount`` of ``hold`` to go back on chain; see the module docstring. Nothing moves yet."""
    _require(actor, "payments.request_payout", "Your role cannot request refunds.")
    value = money_parse(amount, currency=client.currency)
    replay = _replay(idempotency_key, client, hold, value)
    if replay is not None:
        return replay
    _hold_check(client, hold, value)
    target = _destination_resolve(client=client, hold=hold, network=network, destination=destination)
    comment = _comment(reason)
    rate = rate_quote(network=network, currency=client.currency)
    units = refund_units(amount=value, rate=rate.value, network=network)
    if units <= 0:
        raise _field_error(
            "amount", "amount_too_small", "This amount is worth less than the network can send."
        )
    verdict = _screen(client, value, network, target.address, comment)
    fields = {
        "client": client, "hold": hold, "network": network, "destination": target.address,
        "destination_kind": target.kind, "refund_address": target.refund_address,
        "source_address": target.source, "amount": value, "currency": client.currency, "rate": rate.value,
        "rate_sources": ",".join(rate.sources)[:100], "units": units, "reason": comment,
        "reference": reference[:200], "idempotency_key": idempotency_key, "screening": verdict.name.lower(),
        "requested_by": actor,
    }  # fmt: skip
    return _payout_create(fields)


def _payout_create(fields: dict[str, Any]) -> PayoutRequest:
    """Create under the hold's row lock, re-checking what is left (a concurrent request may have won)."""
    try:
        with transaction.atomic():
            hold = Hold.objects.select_for_update().get(pk=fields["hold"].pk)
            _hold_check(fields["client"], hold, fields["amount"])
            return PayoutRequest.objects.create(**fields)
    except IntegrityError:
        key = fields["idempotency_key"]
        found = PayoutRequest.objects.filter(idempotency_key=key).first() if key else None
        if found is None:
            raise
        return found


# --- decisions -------------------------------------------------------------------------------


def _locked(payout: PayoutRequest) -> PayoutRequest:
    rows = PayoutRequest.objects.select_for_update(of=("self",)).select_related("hold", "network", "client")
    return rows.get(pk=payout.pk)


def payout_approve(*, payout: PayoutRequest, actor: Any, comment: str = "") -> PayoutRequest:
    """The second pair of eyes: a compliance lead other than the requester. Captures held -> refunds."""
    if not user_has_role(actor, COMPLIANCE_LEAD):
        raise PermissionDenied("Only a compliance lead can approve a refund.", code="four_eyes_lead_required")
    if actor.pk == payout.requested_by_id:
        raise PermissionDenied("The requester cannot approve their own refund.", code="four_eyes_same_person")
    note = comment.strip()[:MAX_COMMENT] if isinstance(comment, str) else ""
    with transaction.atomic():
        locked = _locked(payout)
        if locked.status != P.REQUESTED:
            raise InvalidTransition(f"payout cannot go from {locked.status!r} to 'approved'.")
        capture = hold_capture(
            hold=locked.hold, idempotency_key=f"payout:{locked.pk}:capture", to=SystemAccount.REFUNDS,
            amount=locked.amount, actor=actor, reason=f"Refund to source (payout {locked.public_id})",
        )  # fmt: skip
        payout_transition(
            locked, to=P.APPROVED, actor=actor, reason=note or "approved", approved_by=actor,
            approved_at=timezone.now(), capture_transaction=capture, decided_reason=note,
        )  # fmt: skip
    return locked


def payout_reject(*, payout: PayoutRequest, actor: Any, reason: object) -> PayoutRequest:
    _require(actor, "payments.request_payout", "Your role cannot decide refunds.")
    comment = _comment(reason)
    return payout_transition(
        payout, to=P.REJECTED, actor=actor, reason=comment, rejected_by=actor, decided_reason=comment,
        finished_at=timezone.now(),
    )  # fmt: skip


def payout_mark_sent(*, payout: PayoutRequest, actor: Any, tx_hash: object) -> PayoutRequest:
    """The treasury's record of the outgoing transaction; verification is queued after commit."""
    _require(actor, "payments.send_payout", "Your role cannot record refund transactions.")
    try:
        canonical = tx_hash_validate(payout.network.family, tx_hash if isinstance(tx_hash, str) else "")
    except ValidationFailed as exc:
        raise _field_error("tx_hash", exc.code, exc.message) from None
    taken = Conflict("This transaction is already recorded for another refund.", code="tx_hash_taken")
    try:
        with transaction.atomic():
            locked = _locked(payout)
            if locked.status == P.SENT and locked.tx_hash == canonical:
                return locked  # the same form sent twice
            payout_transition(locked, to=P.SENT, actor=actor, reason=f"outgoing transaction {canonical}",
                              tx_hash=canonical, sent_by=actor, sent_at=timezone.now())  # fmt: skip
    except IntegrityError:
        raise taken from None
    _after_commit(locked, "payout_sent", enqueue=True)
    return locked


def _after_commit(payout: PayoutRequest, event: str, *, enqueue: bool = False) -> None:
    announce(event, PayoutUpdate(
        payout_id=payout.pk, client_id=payout.client_id, network=payout.network.code, amount=payout.amount,
        currency=payout.currency, tx_hash=payout.tx_hash, status=payout.status,
    ))  # fmt: skip
    if enqueue:
        from payments.tasks import payout_verify_enqueue

        transaction.on_commit(lambda: payout_verify_enqueue(payout.pk))


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCheck:
    """What the chain shows of a payout's transaction, to its destination."""

    mined: bool
    delivered: int = 0
    confirmations: int = 0


def _chain_check(payout: PayoutRequest, adapter: ChainAdapter) -> ChainCheck:
    transfers = adapter.transaction(payout.tx_hash, {payout.destination})
    mined = [t for t in transfers if t.recipient == payout.destination and t.block_height is not None]
    if not mined:
        return ChainCheck(mined=False)
    height = max(t.block_height or 0 for t in mined)
    confirmations = max(0, adapter.head() - height + 1)
    delivered = sum(t.amount for t in mined if t.success)
    return ChainCheck(mined=True, delivered=delivered, confirmations=confirmations)


def _default_adapter(network: Network) -> ChainAdapter:
    from payments.chains.registry import adapter_for

    return adapter_for(network_spec(network))


def payout_verify(*, payout: PayoutRequest, adapter: ChainAdapter | None = None) -> PayoutRequest:
    """Check a sent payout on chain once; confirm, fail or leave it ``sent``. Raises ChainError to retry."""
    if payout.status != P.SENT:
        return payout
    network = payout.network
    check = _chain_check(payout, adapter or _default_adapter(network))
    window = timedelta(hours=settings.NEXORA_PAYOUT_VERIFY_WINDOW_H)
    with transaction.atomic():
        locked = _locked(payout)
        if locked.status != P.SENT:
            return locked
        if check.mined and check.confirmations >= network.confirmations:
            return _finish(locked, check)
        if not check.mined and locked.sent_at is not None and timezone.now() - locked.sent_at > window:
            hours = settings.NEXORA_PAYOUT_VERIFY_WINDOW_H
            return _fail(locked, check, f"the transaction is not on chain {hours} h after it was recorded")
        PayoutRequest.objects.filter(pk=locked.pk).update(
            confirmations=check.confirmations, verify_attempts=locked.verify_attempts + 1,
            last_checked_at=timezone.now(), updated_at=timezone.now(),
        )  # fmt: skip
    locked.refresh_from_db()
    return locked


def _finish(payout: PayoutRequest, check: ChainCheck) -> PayoutRequest:
    if check.delivered >= payout.units:
        settle = _settle(payout, payout.amount)
        reason = f"paid {check.delivered} units, {check.confirmations} confirmations"
        payout_transition(
            payout, to=P.CONFIRMED, reason=reason, settle_transaction=settle, **_checked(payout, check)
        )
        _after_commit(payout, "payout_confirmed")
        return payout
    what = "reverted" if check.delivered == 0 else f"paid {check.delivered} of {payout.units} units"
    return _fail(payout, check, f"the transaction {what}")


def _checked(payout: PayoutRequest, check: ChainCheck) -> dict[str, Any]:
    """The verification fields every final check records."""
    now = timezone.now()
    return {
        "delivered_units": check.delivered, "confirmations": check.confirmations,
        "verify_attempts": payout.verify_attempts + 1, "last_checked_at": now, "finished_at": now,
    }  # fmt: skip


def _delivered_value(payout: PayoutRequest, delivered: int) -> Decimal:
    """The fiat share of the payout that ``delivered`` (< units) base units carried, rounded down."""
    with decimal.localcontext(decimal.Context(prec=120)):
        share = payout.amount * Decimal(delivered) / Decimal(payout.units)
        return share.quantize(currency_quantum(payout.currency), rounding=ROUND_FLOOR)


def _settle(payout: PayoutRequest, amount: Decimal) -> LedgerTransaction:
    refunds = system_account(SystemAccount.REFUNDS, payout.currency)
    settled = system_account(SystemAccount.PAYOUTS, payout.currency)
    return ledger_post(
        kind=TransactionKind.REFUND, idempotency_key=f"payout:{payout.pk}:settle",
        lines=[Line(refunds, -amount), Line(settled, amount)], client=payout.client,
        reference=payout.reference or f"payout:{payout.public_id}",
        description=f"Refund {payout.tx_hash} on {payout.network.code}",
    ).transaction  # fmt: skip


def _fail(payout: PayoutRequest, check: ChainCheck, why: str) -> PayoutRequest:
    delivered_value = _delivered_value(payout, check.delivered)
    settle = _settle(payout, delivered_value) if delivered_value > 0 else None
    back = payout.amount - delivered_value
    returned = None
    if back > 0:
        returned = hold_place(
            client=payout.client, amount=back, idempotency_key=f"payout:{payout.pk}:return",
            reason="Refund not completed on chain; held for a new decision",
            reference=payout.reference or f"payout:{payout.public_id}", source=SOURCE_REFUNDS,
        )  # fmt: skip
    return payout_transition(
        payout, to=P.FAILED, reason=why, failure_reason=why[:300], settle_transaction=settle,
        return_hold=returned, **_checked(payout, check),
    )  # fmt: skip


# --- refund addresses the client gives ----------------------------------------------------------


@transaction.atomic
def refund_address_record(
    *, client: ClientProfile, network: Network, address: object, reference: str = "", actor: Any = None
) -> RefundAddress:
    """Record an address the client gave (not usable until confirmed); replaces an unconfirmed one."""
    canonical = _address_parse(network, address, "address")
    ClientProfile.objects.select_for_update().filter(pk=client.pk).first()  # one change per client at a time
    for older in RefundAddress.objects.filter(client=client, network=network, status=R.SUBMITTED):
        refund_address_transition(older, to=R.SUPERSEDED, actor=actor, reason="a newer address was given")
    return RefundAddress.objects.create(
        client=client, network=network, address=canonical, reference=reference
    )


@transaction.atomic
def refund_address_activate(*, refund_address: RefundAddress, actor: Any = None) -> RefundAddress:
    """The client's confirmation (second step): screened as an account change, then in force."""
    ClientProfile.objects.select_for_update().filter(pk=refund_address.client_id).first()
    locked = RefundAddress.objects.select_related("network").get(pk=refund_address.pk)
    if locked.status == R.CONFIRMED:
        return locked
    if locked.status != R.SUBMITTED:
        raise InvalidTransition("This address was replaced by a newer one.", code="refund_address_superseded")
    fact = AccountChanged(client_id=locked.client_id, field="payout_address", new_value=locked.address)
    if screen("account_changed", fact) == Verdict.REFUSE:
        raise Conflict("This address cannot be used for refunds.", code="refund_address_refused")
    current = RefundAddress.objects.filter(
        client_id=locked.client_id, network=locked.network, status=R.CONFIRMED
    )
    for older in current:
        refund_address_transition(
            older, to=R.SUPERSEDED, actor=actor, reason="the client confirmed a newer one"
        )
    return refund_address_transition(
        locked, to=R.CONFIRMED, actor=actor, reason="confirmed by the client", confirmed_at=timezone.now()
    )
