"""Deposits become notifications through payments' real announcements (scanner -> credit -> announce)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from aml.notifications.listeners import on_deposit_credited, on_deposit_seen
from aml.notifications.models import Notification, NotificationDelivery
from payments.hooks import (
    DepositCredited,
    DepositSeen,
    Verdict,
    announce,
    screener_register,
    screener_unregister,
)
from payments.models import Deposit
from payments.services.topups import topup_create
from tests.payments.memory_chain import MemoryScanner, memory_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def paying(make_subscriber, make_network, django_capture_on_commit_callbacks):
    """A client with e-mail and Telegram, a 12.34 USD top-up on USDT (Ethereum), and a chain to pay it on."""
    network = make_network("usdt-erc20")
    client = make_subscriber(language="ru", email="ivan@example.com", chat="4242")
    topup = topup_create(client=client, network_code="usdt-erc20", amount="12.34").topup
    chain = memory_chain(network)
    scanner = MemoryScanner(network, chain)

    def run(blocks: int, *, pay: bool = True, success: bool = True, units: int = 12_340_000) -> None:
        if pay:
            chain.pay(topup.address.address, units, success=success)
        chain.mine(blocks)
        with django_capture_on_commit_callbacks(execute=True):  # each scan's commit runs the listeners
            scanner.sync()

    return client, topup, run


def events(client) -> list[tuple[str, dict[str, str]]]:
    return [(n.event, n.params) for n in Notification.objects.filter(client=client).order_by("id")]


def test_a_paid_top_up_tells_seen_then_credited(paying, bot):
    client, topup, run = paying
    run(1)
    link = str(topup.public_id)
    seen = {"amount": "12.34", "asset": "USDT", "network": "USDT (Ethereum, ERC-20)", "topup": link}
    assert events(client) == [("topup_seen", seen)]
    run(2, pay=False)  # three confirmations: credited
    credited = {"amount": "12.34", "currency": "USD", "network": "USDT (Ethereum, ERC-20)", "topup": link}
    assert events(client) == [("topup_seen", seen), ("topup_credited", credited)]
    assert [m.subject for m in mail.outbox] == ["Мы видим ваш платёж", "Пополнение зачислено"]
    assert [body["text"].split("\n")[0] for body in bot.sent()] == [
        "Мы видим ваш платёж",
        "Пополнение зачислено",
    ]
    run(1, pay=False)  # another scan over the same chain: no new facts, no new messages
    assert len(events(client)) == 2 and len(mail.outbox) == 2


def test_a_held_credit_says_under_review_and_nothing_more(paying, bot):
    client, topup, run = paying

    def review(fact):
        return Verdict.REVIEW

    screener_register("deposit_confirmed", review)
    try:
        run(3)
    finally:
        screener_unregister("deposit_confirmed", review)
    assert Deposit.objects.get().hold_id is not None
    assert events(client)[-1] == ("under_review", {"topup": str(topup.public_id)})  # no amount, no reason
    assert mail.outbox[-1].subject == "Ваше пополнение на проверке"
    assert (
        "Deposit under review" not in mail.outbox[-1].body and "deposit_confirmed" not in mail.outbox[-1].body
    )


def test_a_transfer_that_failed_on_chain_is_not_news(paying):
    client, _topup, run = paying
    run(1, success=False)
    assert Deposit.objects.get().status == "failed"
    assert events(client) == []


def test_a_payment_below_the_minimum_is_not_promised_a_credit(paying):
    client, _topup, run = paying
    run(3, units=500_000)  # 0.5 USDT, the network's minimum is 1: recorded for staff, not credited
    assert Deposit.objects.get().status == "unapplied"
    assert events(client) == []


def test_the_same_announcement_twice_notifies_once(paying, django_capture_on_commit_callbacks, bot):
    client, topup, run = paying
    run(3)
    deposit = Deposit.objects.get()
    before = (
        Notification.objects.count(),
        NotificationDelivery.objects.count(),
        len(mail.outbox),
        len(bot.sent()),
    )
    ids = {"deposit_id": deposit.pk, "client_id": client.pk, "topup_id": topup.pk, "network": "usdt-erc20"}
    fact = DepositCredited(**ids, amount=Decimal("12.34"), currency="USD", held=False)
    seen = DepositSeen(**ids, tx_hash=deposit.tx_hash, units=deposit.amount)
    with django_capture_on_commit_callbacks(execute=True):
        announce("deposit_credited", fact)
        announce("deposit_seen", seen)
    after = (
        Notification.objects.count(),
        NotificationDelivery.objects.count(),
        len(mail.outbox),
        len(bot.sent()),
    )
    assert before == after == (2, 4, 2, 2)  # two facts, one delivery per channel each


def test_listeners_are_registered_at_start_up():
    from payments.hooks import _listeners

    assert on_deposit_seen in _listeners["deposit_seen"]
    assert on_deposit_credited in _listeners["deposit_credited"]


def test_a_payment_on_another_network_is_not_promised_a_credit(
    paying, make_network, django_capture_on_commit_callbacks
):
    client, topup, _run = paying
    eth = make_network("eth")  # same EVM address, but the top-up was for USDT on Ethereum
    chain = memory_chain(eth)
    chain.pay(topup.address.address, 10**16)
    chain.mine(4)
    with django_capture_on_commit_callbacks(execute=True):
        MemoryScanner(eth, chain).sync()
    deposit = Deposit.objects.get()
    assert (deposit.topup_id, deposit.unapplied_reason) == (None, "other_network")
    assert events(client) == []
