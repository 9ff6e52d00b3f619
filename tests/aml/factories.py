"""Helpers for the AML engine tests: past activity written straight into the tables it reads.

The engine reads history, it does not replay it: a credited deposit of last month is a row with
``credited_at`` and ``credited_amount``, so these helpers insert exactly such rows (no ledger
posting: the history query never looks at the ledger). Everything the tests then screen goes
through the real services (top-ups, the deposit services on an in-memory chain, charges).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from nexora.accounts.models import ClientProfile
from payments.models import Charge, Deposit, DepositAddress, Network
from payments.services.charges import charge_create
from tests.payments.memory_chain import MemoryScanner, memory_chain

SENDER = "0x1111111111111111111111111111111111111111"
_seq = itertools.count(1)


def history_deposit(
    client: ClientProfile,
    network: Network,
    *,
    amount: str,
    at: datetime,
    sender: str = SENDER,
    units: int | None = None,
) -> Deposit:
    n = next(_seq)
    address = DepositAddress.objects.create(
        family=network.family, address=f"0xhist{n:036d}", key_fingerprint="history", index=10**9 + n,
        network=network, client=client,
    )  # fmt: skip
    return Deposit.objects.create(
        network=network, tx_hash=f"0x{n:064x}", index=0, address=address, client=client, sender=sender,
        amount=units if units is not None else int(Decimal(amount) * 10**network.decimals), status="credited",
        seen_at=at, confirmed_at=at, credited_at=at, credited_amount=Decimal(amount),
    )  # fmt: skip


def history_charge(client: ClientProfile, *, amount: str, at: datetime) -> Charge:
    """A charge through the real service (so it is screened and posted), then dated back."""
    charge = charge_create(
        client_id=client.pk, amount=Decimal(amount), currency=client.currency, description="VPS",
        idempotency_key=f"history-{next(_seq)}",
    ).charge  # fmt: skip
    Charge.objects.filter(pk=charge.pk).update(created_at=at)
    return charge


def pay(topup: object, network: Network, units: int, *, sender: str = SENDER) -> Deposit:
    """Pay a top-up's address on an in-memory chain and let the deposit services confirm and credit it."""
    chain = memory_chain(network)
    chain.pay(topup.address.address, units, sender=sender)  # type: ignore[attr-defined]
    chain.mine(network.confirmations + 1)
    MemoryScanner(network, chain).sync()
    return Deposit.objects.filter(address=topup.address).latest("id")  # type: ignore[attr-defined]


def now() -> datetime:
    return timezone.now()
