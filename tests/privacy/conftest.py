"""A client with one of everything the privacy features deal with, made through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from nexora.accounts.models import ClientProfile, SecurityEvent
from nexora.accounts.security import SecurityKind, security_event_log
from payments.models import Charge, Deposit, Network, TopUp, TxLookup
from payments.services.charges import charge_create
from payments.services.deposits import deposit_observe
from payments.services.topups import topup_create
from tests.payments.memory_chain import memory_chain

SENDER = "0x1111111111111111111111111111111111111111"


@dataclass
class Person:
    client: ClientProfile
    topup: TopUp
    deposit: Deposit
    charge: Charge
    lookup: TxLookup


def pay_in_full(network: Network, topup: TopUp, sender: str = SENDER) -> Deposit:
    chain = memory_chain(network)
    transfer = chain.pay(topup.address.address, topup.crypto_amount, sender=sender)
    chain.mine(network.confirmations + 1)
    (mined,) = chain.blocks[1][1]
    assert mined.tx_hash == transfer.tx_hash
    deposit_observe(network=network, transfer=mined, head=chain.head())
    return Deposit.objects.get(tx_hash=transfer.tx_hash)


def make_person(make_client: Any, network: Network, *, email: str = "ada@example.com") -> Person:
    """Balance 100.00 (seed) + 50.00 (a paid top-up) - 10.00 (a charge) = 140.00; three ledger entries;
    a login, a failed login and one 400-day-old login in the security log; a pasted hash."""
    client = make_client(balance="100.00", email=email)
    client.user.first_name, client.user.last_name = "Ada", "Lovelace"
    client.user.save(update_fields=["first_name", "last_name"])
    topup = topup_create(client=client, network_code=network.code, amount="50.00").topup
    deposit = pay_in_full(network, topup)
    charge = charge_create(
        client_id=client.pk,
        amount=Decimal("10.00"),
        currency="USD",
        description="VPS March",
        idempotency_key=f"vps-{client.pk}",
    ).charge
    lookup = TxLookup.objects.create(topup=topup, tx_hash=deposit.tx_hash)
    security_event_log(user=client.user, kind=SecurityKind.LOGIN_SUCCEEDED)
    security_event_log(user=client.user, kind=SecurityKind.LOGIN_FAILED, username=client.user.username)
    SecurityEvent.objects.create(
        user=client.user, kind="login_succeeded", created_at=timezone.now() - timedelta(days=400)
    )
    return Person(client=client, topup=topup, deposit=deposit, charge=charge, lookup=lookup)


@pytest.fixture
def network(make_network: Any) -> Network:
    return make_network("eth", confirmations=2)


@pytest.fixture
def person(make_client: Any, network: Network) -> Person:
    return make_person(make_client, network)
