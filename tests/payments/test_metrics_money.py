"""Payments' money and flow collectors for ``/metrics``: exact samples, one query each.

Top-ups, deposits and refunds are made through the real services (quotes, the in-memory chain,
the deposit and payout services); the collectors are read the way a scrape reads them.
"""

from __future__ import annotations

import pytest

from payments.metrics import deposit_metrics, payout_metrics, topup_metrics
from payments.models import Deposit
from payments.services.deposits import deposit_transition
from payments.services.payouts import payout_request
from payments.services.topups import topup_create
from tests.metrics_samples import samples
from tests.privacy.conftest import pay_in_full
from tests.review_helpers import SENDER, held_deposit

pytestmark = pytest.mark.django_db
TOPUP_STATUSES = ("awaiting_payment", "confirming", "completed", "expired", "invalid")
PAYOUT_STATUSES = ("requested", "approved", "sent", "confirmed", "failed", "rejected")


@pytest.fixture
def flows(make_network, make_client, make_staff):
    """USDT: two paid top-ups (USD to available, EUR), one held (USD), one unpaid; ETH: nothing."""
    usdt, _ = make_network("usdt-erc20"), make_network("eth")
    paid_usd = topup_create(client=make_client(), network_code="usdt-erc20", amount="50.00").topup
    paid_eur = topup_create(
        client=make_client(currency="EUR"), network_code="usdt-erc20", amount="46.00"
    ).topup
    pay_in_full(usdt, paid_usd)
    pay_in_full(usdt, paid_eur)
    held_client = make_client()
    held, _ = held_deposit(held_client, usdt, amount="20.00")
    topup_create(client=make_client(), network_code="usdt-erc20", amount="10.00")
    return usdt, held_client, held, make_staff("compliance_officer")


def test_top_ups_by_network_and_status_every_pair_present(flows, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = samples(topup_metrics())
    zeros = dict.fromkeys(TOPUP_STATUSES, 0.0)
    expected = {
        **{("eth", status): n for status, n in zeros.items()},
        **{
            ("usdt-erc20", status): n
            for status, n in {**zeros, "completed": 3.0, "awaiting_payment": 1.0}.items()
        },
    }
    assert found == {"nexora_topups": expected}


def test_deposits_credited_count_and_value_per_network_and_currency(flows, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = samples(deposit_metrics())
    assert found == {
        "nexora_deposits_credited_total": {("usdt-erc20", "EUR"): 1.0, ("usdt-erc20", "USD"): 2.0},
        "nexora_deposits_credited_amount_total": {("usdt-erc20", "EUR"): 46.0, ("usdt-erc20", "USD"): 70.0},
        "nexora_deposits_reversed": {("usdt-erc20", "EUR"): 0.0, ("usdt-erc20", "USD"): 0.0},
    }


def test_a_reversed_deposit_stays_counted_as_credited_and_is_counted_as_reversed_while_it_is(flows):
    _, _, held, _ = flows
    deposit_transition(Deposit.objects.get(pk=held.pk), to="reversed", reason="removed by a reorg")
    found = samples(deposit_metrics())
    assert found["nexora_deposits_credited_total"][("usdt-erc20", "USD")] == 2.0
    assert found["nexora_deposits_credited_amount_total"][("usdt-erc20", "USD")] == 70.0
    assert found["nexora_deposits_reversed"] == {("usdt-erc20", "EUR"): 0.0, ("usdt-erc20", "USD"): 1.0}


def test_refunds_by_network_and_status(flows, django_assert_num_queries):
    usdt, client, held, officer = flows
    payout_request(
        client=client, hold=held.hold, amount="20.00", destination=SENDER, network=usdt,
        reason="refund to source", actor=officer,
    )  # fmt: skip
    with django_assert_num_queries(1):
        found = samples(payout_metrics())
    zeros = dict.fromkeys(PAYOUT_STATUSES, 0.0)
    assert found == {
        "nexora_payouts": {
            **{("eth", status): n for status, n in zeros.items()},
            **{("usdt-erc20", status): n for status, n in {**zeros, "requested": 1.0}.items()},
        }
    }


def test_nothing_yet_means_zeros_not_gaps(make_network, django_assert_num_queries):
    make_network("usdt-erc20")
    assert samples(topup_metrics()) == {"nexora_topups": {("usdt-erc20", s): 0.0 for s in TOPUP_STATUSES}}
    with django_assert_num_queries(1):
        assert samples(deposit_metrics()) == {}
