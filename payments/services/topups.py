"""Top-ups: create a quote and move it through its lifecycle (a pasted transaction hash: ``lookups``).

``topup_create`` checks everything that can be refused before anything is written (network,
amount, account status, limits, open top-ups, rate, network minimum), then issues a fresh address
(``address_issue``, its own short transaction) and saves the top-up. An ``Idempotency-Key`` from
the client makes a retried request return the first top-up instead of a second address.

The lifecycle is recomputed from the deposits by ``topup_settle`` (called under the top-up's row
lock by every deposit service and by the expiry task), and applied through three transition
functions with explicit tables: ``status``, ``exception`` and the AML ``review`` flag. Each move is
a compare-and-set plus an audit row (``nexora.common.transitions``).

Status rules (the quote window ends at ``expires_at``):

* any payment seen and not yet confirmed -> ``confirming``;
* credited and (paid enough inside the window, or paid late, or the window is over) -> ``completed``;
* credited but short while the window is open -> back to ``awaiting_payment`` (flag ``underpaid``);
* nothing credited when the window closes -> ``expired`` (late payments still reopen it);
* ``invalid`` is set explicitly (staff, or a deep reorg reversing every credit) and is final.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from nexora.accounts.models import AccountStatus, ClientProfile
from nexora.common.errors import (
    AccountFrozen,
    Conflict,
    IdempotencyConflict,
    ValidationFailed,
    VerificationRequired,
)
from nexora.common.money import money_parse
from nexora.common.transitions import TransitionTable, transition_apply
from payments.hooks import TopUpRequested, Verdict, screen
from payments.models import (
    DepositStatus,
    Network,
    ReviewFlag,
    TopUp,
    TopUpException,
    TopUpStatus,
    UnappliedReason,
)
from payments.services.addresses import address_issue
from payments.services.quotes import credit_value, quote_units, rate_quote

S, E, R = TopUpStatus, TopUpException, ReviewFlag
TOPUP_TRANSITIONS: TransitionTable = {
    S.AWAITING_PAYMENT: frozenset({S.CONFIRMING, S.COMPLETED, S.EXPIRED, S.INVALID}),
    S.CONFIRMING: frozenset({S.AWAITING_PAYMENT, S.COMPLETED, S.EXPIRED, S.INVALID}),
    S.EXPIRED: frozenset({S.CONFIRMING, S.COMPLETED, S.INVALID}),
    S.COMPLETED: frozenset({S.INVALID}),
    S.INVALID: frozenset(),
}
# The exception flag follows the money: any value may replace any other as payments arrive.
EXCEPTION_TRANSITIONS: TransitionTable = {e: frozenset(set(E) - {e}) for e in E}
REVIEW_TRANSITIONS: TransitionTable = {
    R.NONE: frozenset({R.ON_HOLD}),
    R.ON_HOLD: frozenset({R.RELEASED, R.REJECTED}),
    R.RELEASED: frozenset({R.ON_HOLD}),
    R.REJECTED: frozenset({R.ON_HOLD}),
}
OPEN_STATUSES = (S.AWAITING_PAYMENT, S.CONFIRMING)
IN_FLIGHT = (DepositStatus.PENDING, DepositStatus.CONFIRMED)


def topup_transition(topup: TopUp, *, to: str, actor: Any = None, reason: str = "", **fields: Any) -> TopUp:
    return transition_apply(
        topup, table=TOPUP_TRANSITIONS, to=to, entity="topup", actor=actor, reason=reason, extra_fields=fields
    )


def topup_exception_transition(topup: TopUp, *, to: str, reason: str = "") -> TopUp:
    return transition_apply(
        topup, table=EXCEPTION_TRANSITIONS, to=to, entity="topup.exception", reason=reason, field="exception"
    )


def topup_review_transition(topup: TopUp, *, to: str, actor: Any = None, reason: str = "") -> TopUp:
    return transition_apply(
        topup,
        table=REVIEW_TRANSITIONS,
        to=to,
        entity="topup.review",
        actor=actor,
        reason=reason,
        field="review",
    )


# --- creation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopUpResult:
    topup: TopUp
    created: bool


def _field_error(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [{"code": code, "message": message}]})


def network_enabled_get(code: object) -> Network:
    network = Network.objects.filter(code=code, enabled=True).first() if isinstance(code, str) else None
    if network is None:
        raise _field_error("network", "unknown_network", "This network does not exist or is not enabled.")
    return network


def _replay(client: ClientProfile, key: str, network: Network, amount: Decimal) -> TopUpResult | None:
    if not key:
        return None
    topup = TopUp.objects.filter(client=client, idempotency_key=key).first()
    if topup is None:
        return None
    if (topup.network_id, topup.amount) != (network.pk, amount):
        raise IdempotencyConflict()
    return TopUpResult(topup, created=False)


def _check_client(client: ClientProfile, network: Network, amount: Decimal) -> None:
    if client.status != AccountStatus.ACTIVE:
        raise AccountFrozen()
    limit = Decimal(settings.NEXORA_TOPUP_MAX_AMOUNT)
    if amount > limit:
        raise _field_error(
            "amount", "amount_above_limit", "This amount is above your account's top-up limit."
        )
    fact = TopUpRequested(client_id=client.pk, network=network.code, amount=amount, currency=client.currency)
    if screen("topup_requested", fact) == Verdict.REFUSE:  # KYC limits (the AML engine answers)
        raise VerificationRequired()
    open_count = TopUp.objects.filter(client=client, status__in=OPEN_STATUSES).count()
    if open_count >= settings.NEXORA_TOPUP_MAX_OPEN:
        raise Conflict(
            "You have too many unpaid top-ups; pay or let one expire first.", code="too_many_open_topups"
        )


def _check_minimum(network: Network, units: int, rate: Decimal, currency: str) -> None:
    if units >= network.min_amount:
        return
    minimum = credit_value(units=network.min_amount, rate=rate, network=network, currency=currency)
    raise _field_error(
        "amount",
        "amount_below_minimum",
        f"The minimum on {network.name} is {network.display(network.min_amount)} {network.asset} "
        f"(about {minimum} {currency}).",
    )


def topup_create(
    *, client: ClientProfile, network_code: object, amount: object, idempotency_key: str = ""
) -> TopUpResult:
    """Quote ``amount`` (account currency) on a network and issue a fresh address for it."""
    network = network_enabled_get(network_code)
    value = money_parse(amount, currency=client.currency)
    replay = _replay(client, idempotency_key, network, value)
    if replay is not None:
        return replay
    _check_client(client, network, value)
    rate = rate_quote(network=network, currency=client.currency)
    units = quote_units(amount=value, rate=rate.value, network=network)
    _check_minimum(network, units, rate.value, client.currency)
    address = address_issue(network=network, client=client)
    now = timezone.now()
    try:
        with transaction.atomic():
            topup = TopUp.objects.create(
                client=client, network=network, address=address, amount=value, currency=client.currency,
                rate=rate.value, rate_sources=",".join(rate.sources)[:100], crypto_amount=units,
                idempotency_key=idempotency_key,
                expires_at=now + timedelta(seconds=network.quote_window_s),
                monitor_until=now + timedelta(seconds=network.monitor_window_s),
            )  # fmt: skip
    except IntegrityError:  # the same key raced in: answer with the winner (the address stays issued)
        replay = _replay(client, idempotency_key, network, value)
        if replay is None:
            raise
        return replay
    return TopUpResult(topup, created=True)


# --- lifecycle ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paid:
    window_units: int
    late_credited: bool
    in_flight: bool
    credited: bool
    below_minimum: bool


def _paid(topup: TopUp) -> Paid:
    deposits = list(topup.deposits.filter(network_id=topup.network_id))
    credited = [d for d in deposits if d.status == DepositStatus.CREDITED]
    return Paid(
        window_units=sum(d.amount for d in credited if not d.late),
        late_credited=any(d.late for d in credited),
        in_flight=any(d.status in IN_FLIGHT for d in deposits),
        credited=bool(credited),
        below_minimum=any(d.unapplied_reason == UnappliedReason.BELOW_MINIMUM for d in deposits),
    )


def fulfilled_threshold(topup: TopUp) -> int:
    """Fewest base units that count as paying the quote (the underpayment tolerance applied)."""
    with decimal.localcontext(decimal.Context(prec=120)):
        share = Decimal(topup.crypto_amount) * (1 - topup.network.underpay_tolerance)
        return int(share.to_integral_value(rounding=decimal.ROUND_CEILING))


def _desired_status(topup: TopUp, paid: Paid, now: datetime) -> str:
    if topup.status in (S.INVALID, S.COMPLETED):
        return topup.status
    window_over = now >= topup.expires_at
    fulfilled = paid.window_units >= fulfilled_threshold(topup)
    if paid.credited and (fulfilled or paid.late_credited or (window_over and not paid.in_flight)):
        return S.COMPLETED
    if paid.in_flight:
        return S.CONFIRMING
    return S.EXPIRED if window_over else S.AWAITING_PAYMENT


def _desired_exception(topup: TopUp, paid: Paid) -> str:
    if paid.window_units > topup.crypto_amount:
        return E.OVERPAID
    if paid.window_units >= fulfilled_threshold(topup):
        return E.NONE
    if paid.late_credited:
        return E.PAID_LATE
    if paid.window_units > 0:
        return E.UNDERPAID
    return E.BELOW_MINIMUM if paid.below_minimum else E.NONE


def topup_settle(topup: TopUp, *, now: datetime | None = None, reason: str = "") -> TopUp:
    """Bring status and exception in line with the deposits. Caller holds the top-up's row lock."""
    now = now or timezone.now()
    paid = _paid(topup)
    exception = _desired_exception(topup, paid)
    if exception != topup.exception:
        topup_exception_transition(topup, to=exception, reason=reason)
    status = _desired_status(topup, paid, now)
    if status != topup.status:
        extra = {"completed_at": now} if status == S.COMPLETED else {}
        topup_transition(topup, to=status, reason=reason, **extra)
    return topup


def topup_lock(topup_id: int) -> TopUp:
    return TopUp.objects.select_for_update(of=("self",)).select_related("network").get(pk=topup_id)


def topups_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Settle open top-ups whose quote window has passed; returns how many changed status."""
    now = now or timezone.now()
    due = TopUp.objects.filter(status__in=OPEN_STATUSES, expires_at__lte=now).order_by("expires_at")
    changed = 0
    for topup_id in due.values_list("pk", flat=True)[:limit]:
        with transaction.atomic():
            topup = topup_lock(topup_id)
            before = topup.status
            changed += topup_settle(topup, now=now, reason="quote window ended").status != before
    return changed
