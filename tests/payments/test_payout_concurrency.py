"""Refunds under races on PostgreSQL: requests never promise more than a hold keeps, an approval
captures once, one transaction hash settles one refund."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nexora.common.errors import Conflict
from payments.models import LedgerTransaction, PayoutRequest
from payments.selectors.ledger import balance_get, ledger_sum_mismatches, system_balance
from payments.services.payouts import payout_approve, payout_mark_sent, payout_request
from tests.payments.test_concurrency import run_threads
from tests.review_helpers import SENDER, held_deposit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def held(make_network, make_client, make_staff):
    network, client = make_network("usdt-erc20"), make_client()
    deposit, _ = held_deposit(client, network)
    roles = ("compliance_officer", "compliance_lead", "compliance_lead", "treasury")
    return client, network, deposit, [make_staff(r) for r in roles]


def test_ten_racing_requests_never_reserve_more_than_the_hold(held):
    client, network, deposit, (officer, *_) = held

    def ask(i: int) -> object:
        return payout_request(
            client=client,
            hold=deposit.hold,
            amount="15.00",
            destination=SENDER,
            network=network,
            reason=f"refund {i}",
            actor=officer,
        )

    results = run_threads(10, ask)
    made = [r for r in results if isinstance(r, PayoutRequest)]
    refused = [r for r in results if not isinstance(r, PayoutRequest)]
    assert len(made) == 3  # 3 x 15.00 <= 50.00 < 4 x 15.00
    assert all(isinstance(r, Conflict) and r.code == "hold_exceeded" for r in refused), refused
    assert PayoutRequest.objects.count() == 3


def test_two_leads_approving_at_once_capture_once(held):
    client, network, deposit, (officer, lead, lead2, _) = held
    payout = payout_request(
        client=client,
        hold=deposit.hold,
        amount="50.00",
        destination=SENDER,
        network=network,
        reason="refund",
        actor=officer,
    )
    leads = [lead, lead2]
    results = run_threads(2, lambda i: payout_approve(payout=payout, actor=leads[i]))
    assert sorted(type(r).__name__ for r in results) == ["InvalidTransition", "PayoutRequest"]
    assert LedgerTransaction.objects.filter(idempotency_key=f"payout:{payout.pk}:capture").count() == 1
    assert (balance_get(client=client).held, system_balance(code="refunds_clearing", currency="USD")) == (
        Decimal("0.00"),
        Decimal("50.00"),
    )
    assert ledger_sum_mismatches() == []


def test_one_hash_recorded_for_two_refunds_at_once_settles_one(held):
    client, network, deposit, (officer, lead, _, treasury) = held
    payouts = [
        payout_approve(
            payout=payout_request(
                client=client,
                hold=deposit.hold,
                amount="25.00",
                destination=SENDER,
                network=network,
                reason="refund",
                actor=officer,
            ),
            actor=lead,
        )
        for _ in range(2)
    ]
    tx_hash = "0x" + "ab" * 32
    results = run_threads(2, lambda i: payout_mark_sent(payout=payouts[i], actor=treasury, tx_hash=tx_hash))
    kinds = sorted(type(r).__name__ if not isinstance(r, Conflict) else r.code for r in results)
    assert kinds == ["PayoutRequest", "tx_hash_taken"]
    assert sorted(PayoutRequest.objects.values_list("status", flat=True)) == ["approved", "sent"]
