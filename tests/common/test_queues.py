"""Routing chain tasks to a queue per network family (NEXORA_CHAIN_QUEUES=per_family)."""

from __future__ import annotations

import pytest
from celery import Celery

from nexora.common.queues import chain_queue_per_family, network_family
from payments.models import TxLookup
from payments.services.topups import topup_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    network_family.cache_clear()
    yield
    network_family.cache_clear()


def test_scans_and_lookups_go_to_their_familys_queue(make_network, client_profile):
    eth, trx, btc = make_network("eth"), make_network("usdt-trc20"), make_network("btc")
    route = chain_queue_per_family
    assert route("payments.scan_network", (eth.pk,), {}, {}) == {"queue": "chain.evm"}
    assert route("payments.scan_network", (), {"network_id": trx.pk}, {}) == {"queue": "chain.tron"}
    assert route("payments.scan_network", (btc.pk,), {}, {}) == {"queue": "chain.bitcoin"}
    topup = topup_create(client=client_profile, network_code="usdt-trc20", amount="10").topup
    lookup = TxLookup.objects.create(topup=topup, tx_hash="ab" * 32)
    assert route("payments.tx_lookup", (lookup.pk,), {}, {}) == {"queue": "chain.tron"}
    assert route("payments.scan_network", (10**9,), {}, {}) == {"queue": "chain"}
    assert route("payments.topups_expire", (), {}, {}) is None  # everything else: the default queue


def test_celery_uses_the_router_when_configured(make_network):
    eth = make_network("eth")
    app = Celery("routing-test", set_as_current=False)  # must not replace the project app for later tests
    app.conf.task_routes = ["nexora.common.queues.chain_queue_per_family"]
    route = app.amqp.router.route({}, "payments.scan_network", args=(eth.pk,), kwargs={})
    assert route["queue"].name == "chain.evm"
