"""The one hook through which ``payments`` announces facts and hears verdicts.

``payments`` must not import ``aml`` (ARCHITECTURE.md, "Boundary"). Instead, ``aml`` registers
screeners here at start-up (``screener_register("charge_requested", fn)``), and payments calls
``screen(event, fact)`` before it moves money. Each screener returns a ``Verdict``; the strictest
one wins. A screener that raises counts as ``REVIEW``: an error is never a clean result.

With no screener registered (the foundation, or a deployment without AML), everything is allowed.

Events (the fact passed is a frozen dataclass defined here):

* ``charge_requested`` — ``ChargeRequested``, before a charge is debited.
* ``topup_requested`` — ``TopUpRequested``, before a top-up is quoted; ``REFUSE`` refuses it with
  ``409 verification_required`` (KYC limits), anything else lets it through.
* ``deposit_confirmed`` — ``DepositConfirmed``, before a confirmed deposit is credited: ``ALLOW``
  credits ``available``, anything stricter credits ``held`` and flags the top-up for review.
* ``payout_requested`` — ``PayoutRequested``, before a refund or payout request is accepted.
* ``account_changed`` — ``AccountChanged``, before a change of payout address, e-mail or Telegram
  link takes effect (``REFUSE`` refuses it; ``REVIEW`` lets it through and opens a case).

Announcements are the other direction: facts that already happened, for listeners that inform
people (notifications) or keep statistics. ``announce(event, fact)`` runs the listeners after the
current database transaction commits (a rolled-back credit is never announced), and a failing
listener is logged and ignored: telling someone can never block or undo a money movement.

* ``deposit_seen`` — ``DepositSeen``, a transfer to a client's address was first recorded;
* ``deposit_credited`` — ``DepositCredited``, a deposit was credited (``held`` says whether to the
  held sub-balance, pending review).
* ``payout_sent`` / ``payout_confirmed`` — ``PayoutUpdate``, the treasury recorded a refund's
  outgoing transaction / the chain confirmed it paid the destination.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


class Verdict(enum.IntEnum):
    """Ordered by strictness, so ``max()`` picks the strictest."""

    ALLOW = 0
    REVIEW = 1
    REFUSE = 2


@dataclass(frozen=True)
class ChargeRequested:
    client_id: int
    amount: Decimal
    currency: str
    description: str
    order_ref: str
    idempotency_key: str


@dataclass(frozen=True)
class TopUpRequested:
    client_id: int
    network: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class DepositConfirmed:
    deposit_id: int
    client_id: int
    topup_id: int | None
    network: str
    tx_hash: str
    sender: str
    units: int
    amount: Decimal  # fiat value about to be credited
    currency: str
    late: bool


@dataclass(frozen=True)
class PayoutRequested:
    client_id: int
    amount: Decimal
    currency: str
    destination: str  # chain address the money would go to
    network: str
    reason: str


@dataclass(frozen=True)
class AccountChanged:
    client_id: int
    field: str  # "email" | "telegram" | "payout_address"
    new_value: str


@dataclass(frozen=True)
class DepositSeen:
    deposit_id: int
    client_id: int
    topup_id: int | None
    network: str
    tx_hash: str
    units: int


@dataclass(frozen=True)
class DepositCredited:
    deposit_id: int
    client_id: int
    topup_id: int | None
    network: str
    amount: Decimal
    currency: str
    held: bool


@dataclass(frozen=True)
class PayoutUpdate:
    payout_id: int
    client_id: int
    network: str
    amount: Decimal
    currency: str
    tx_hash: str
    status: str


Screener = Callable[[Any], Verdict]
Listener = Callable[[Any], None]
_screeners: dict[str, list[Screener]] = defaultdict(list)


def screener_register(event: str, fn: Screener) -> None:
    if fn not in _screeners[event]:
        _screeners[event].append(fn)


def screener_unregister(event: str, fn: Screener) -> None:
    if fn in _screeners[event]:
        _screeners[event].remove(fn)


def screen(event: str, fact: Any) -> Verdict:
    verdict = Verdict.ALLOW
    for fn in list(_screeners[event]):
        try:
            verdict = max(verdict, fn(fact))
        except Exception:  # a failing screener must hold the money, not wave it through
            logger.exception("screener %s failed on %s; holding for review", fn, event)
            verdict = Verdict.REVIEW
    return verdict


_listeners: dict[str, list[Listener]] = defaultdict(list)


def listener_register(event: str, fn: Listener) -> None:
    if fn not in _listeners[event]:
        _listeners[event].append(fn)


def listener_unregister(event: str, fn: Listener) -> None:
    if fn in _listeners[event]:
        _listeners[event].remove(fn)


def _deliver(event: str, fact: Any) -> None:
    for fn in list(_listeners[event]):
        try:
            fn(fact)
        except Exception:  # informing someone must never undo or block what already happened
            logger.exception("listener %s failed on %s", fn, event)


def announce(event: str, fact: Any) -> None:
    """Tell the listeners of ``event`` about ``fact`` once the current transaction commits."""
    if _listeners[event]:
        transaction.on_commit(lambda: _deliver(event, fact))
