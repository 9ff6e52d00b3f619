"""The "refund sent" notice: the treasury records a refund's outgoing transaction, payments announces
``payout_sent`` after commit, and the client is told once, neutrally, with what they will receive."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from aml.notifications.models import Notification, NotificationDelivery
from payments.models import PayoutRequest
from payments.services.payouts import payout_approve, payout_mark_sent, payout_request
from tests.review_helpers import SENDER, held_deposit

pytestmark = pytest.mark.django_db
TX = "0x" + "ab" * 32
REASON = "rejected after review: the client could not document the funds"


@pytest.fixture
def approved(make_network, make_subscriber, make_staff):
    """Two approved refunds (30.00 and 20.00 USDT) of one held deposit, waiting for the treasury."""
    network = make_network("usdt-erc20")
    client = make_subscriber(language="uk", email="olena@example.com")
    deposit, _ = held_deposit(client, network)
    hold = deposit.hold
    assert hold is not None
    officer, lead = make_staff("compliance_officer"), make_staff("compliance_lead")

    def approve(amount: str) -> PayoutRequest:
        payout = payout_request(
            client=client, hold=hold, amount=amount, destination=SENDER, network=network,
            reason=REASON, actor=officer, reference="case:7",
        )  # fmt: skip
        return payout_approve(payout=payout, actor=lead, comment="agreed")

    return client, [approve("30.00"), approve("20.00")], make_staff("treasury")


def notices(client) -> list[tuple[str, str, dict[str, str]]]:
    rows = Notification.objects.filter(client=client).order_by("id")
    return [(n.event, n.dedupe_key, n.params) for n in rows]


def test_the_client_is_told_once_per_refund_in_their_language(approved, django_capture_on_commit_callbacks):
    client, (first, second), treasury = approved
    network = "USDT (Ethereum, ERC-20)"
    with django_capture_on_commit_callbacks(execute=True):
        payout_mark_sent(payout=first, actor=treasury, tx_hash=TX)
    told = ("refund_sent", f"payout:{first.pk}", {"amount": "30", "asset": "USDT", "network": network})
    assert notices(client) == [told]

    with django_capture_on_commit_callbacks(execute=True):  # the form sent twice: nothing new
        payout_mark_sent(payout=first, actor=treasury, tx_hash=TX)
    assert notices(client) == [told]

    with django_capture_on_commit_callbacks(execute=True):  # another refund: its own notice
        payout_mark_sent(payout=second, actor=treasury, tx_hash="0x" + "cd" * 32)
    assert notices(client) == [
        told,
        ("refund_sent", f"payout:{second.pk}", {"amount": "20", "asset": "USDT", "network": network}),
    ]
    assert NotificationDelivery.objects.filter(notification__client=client, channel="email").count() == 2
    assert [m.subject for m in mail.outbox] == ["Повернення надіслано"] * 2
    body = mail.outbox[0].body
    assert "30 USDT" in body and network in body
    assert REASON not in body and "case" not in body.lower()  # neutral: no reason, no case


def test_a_rolled_back_mark_sent_tells_nobody(approved, django_capture_on_commit_callbacks):
    client, (first, _), treasury = approved
    capture = django_capture_on_commit_callbacks(execute=True)
    with pytest.raises(RuntimeError), capture, transaction.atomic():
        payout_mark_sent(payout=first, actor=treasury, tx_hash=TX)
        raise RuntimeError("the request failed after the service")
    assert notices(client) == []
    assert PayoutRequest.objects.get(pk=first.pk).status == "approved"
