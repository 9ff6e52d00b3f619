"""Bitcoin end to end through the scanner: the Celery task (eager) and the real Bitcoin adapter against
a fake Esplora on loopback (``tests.payments.fake_esplora``, the documented response shapes).

Each scenario asserts the exact ``Outcome``: an exact payment credited at the confirmations
counted from block heights, an underpaid one, a block replaced before the confirmations (dropped,
then mined again: one deposit, credited once), HTTP 429 (the task retries, the beat task backs
off, nothing moves), a node answering 502 (retried, then credited once), and a mempool payment
pasted by the client (recorded at once without a block, then confirmed by the scanner).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import Retry

from payments.models import Deposit, ScanCursor
from payments.services.topups import topup_create
from payments.tasks import scan_network
from tests.fake_http import LocalServer
from tests.outcome import expect, outcome
from tests.payments.fake_esplora import PAYER, FakeEsplora, output, spend, tx

pytestmark = pytest.mark.django_db
CONFIRMATIONS = 2
SATS_45_USD = 50_000  # 0.0005 BTC at 90,000 USD


@pytest.fixture
def esplora() -> Iterator[tuple[FakeEsplora, str]]:
    fake = FakeEsplora()
    fake.mine_empty(5)
    with LocalServer(lambda method, path, headers, body: fake.answer(path)) as server:
        yield fake, server.url


MakeRig = Callable[..., SimpleNamespace]


@pytest.fixture
def make_rig(esplora, make_network, make_client) -> MakeRig:
    fake, url = esplora

    def make(amount: str = "45.00") -> SimpleNamespace:
        network = make_network("btc", node_urls=[url], confirmations=CONFIRMATIONS, block_time_s=600,
                               options={"backoff_s": 0})  # fmt: skip
        rig = SimpleNamespace(fake=fake, network=network, client=make_client())
        scan(rig)  # the cursor starts before any payment
        rig.topup = topup_create(client=rig.client, network_code="btc", amount=amount).topup
        rig.address = rig.topup.address.address
        return rig

    return make


def scan(rig: SimpleNamespace) -> dict[str, Any]:
    result: dict[str, Any] = scan_network.delay(rig.network.pk).get()
    return result


def payment(to: str, sats: int) -> dict[str, Any]:
    """A payment with change: the deposit is output 1, the change output 0."""
    return tx(
        [spend("payer", sats + 30_000)],
        [output("payer", 29_000), {**output("x", sats), "scriptpubkey_address": to}],
    )


PAID = expect(available="45.00", status="completed", credited="45.00", deposits=("credited",), credits=1)


def test_an_exact_payment_is_credited_at_its_confirmations_by_block_height(make_rig):
    rig = make_rig()
    assert rig.topup.crypto_amount == SATS_45_USD
    paying = payment(rig.address, SATS_45_USD)
    block = rig.fake.mine([paying])
    scan(rig)
    deposit = Deposit.objects.get()
    assert (deposit.tx_hash, deposit.index, deposit.amount, deposit.sender) == (
        paying["txid"],
        1,
        SATS_45_USD,
        PAYER,
    )
    assert (deposit.block_height, deposit.confirmations, deposit.status) == (block["height"], 1, "pending")

    rig.fake.mine_empty(CONFIRMATIONS - 1)  # the tip is one block above: 2 confirmations
    scan(rig)
    scan(rig)
    assert outcome(rig.client, rig.topup) == PAID
    assert Deposit.objects.get().confirmations == 2


def test_an_underpaid_payment_is_credited_for_what_arrived(make_rig):
    rig = make_rig()
    rig.fake.mine([payment(rig.address, 20_000)])  # 18 USD of 45
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    scan(rig)
    assert outcome(rig.client, rig.topup) == expect(
        available="18.00", status="awaiting_payment", exception="underpaid", credited="18.00",
        deposits=("credited",), credits=1,
    )  # fmt: skip


def test_a_block_replaced_before_the_confirmations_drops_the_payment_until_mined_again(make_rig):
    rig = make_rig()
    paying = payment(rig.address, SATS_45_USD)
    old = rig.fake.mine([paying])
    scan(rig)
    assert Deposit.objects.get().block_hash == old["id"]

    rig.fake.reorg(1)  # the same height, another hash, without the payment
    scan(rig)
    assert outcome(rig.client, rig.topup) == expect(status="awaiting_payment", deposits=("reorged",))
    row = ScanCursor.objects.get()
    assert (row.height, row.block_hash) == (rig.fake.tip, rig.fake.blocks[-1]["id"])

    new = rig.fake.mine([paying])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    scan(rig)
    assert outcome(rig.client, rig.topup) == PAID
    assert Deposit.objects.get().block_hash == new["id"]


def test_429_is_retried_with_back_off_and_nothing_moves_until_it_passes(make_rig):
    rig = make_rig()
    rig.fake.mine([payment(rig.address, SATS_45_USD)])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    before = ScanCursor.objects.values_list("height", "block_hash").get()
    rig.fake.failure.set((429, "Too Many Requests"))

    with pytest.raises(Retry) as first:
        scan(rig)
    assert first.value.when == 5
    row = ScanCursor.objects.get()
    assert ((row.height, row.block_hash), row.consecutive_errors) == (before, 1)
    assert row.last_error.startswith("RateLimited: GET /blocks/tip/height failed on every URL")
    assert outcome(rig.client, rig.topup) == expect(status="awaiting_payment")

    rig.fake.failure.set(None)
    scan(rig)
    assert outcome(rig.client, rig.topup) == PAID


def test_a_bad_gateway_is_retried_and_the_payment_credited_once_it_recovers(make_rig):
    rig = make_rig()
    rig.fake.mine([payment(rig.address, SATS_45_USD)])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    rig.fake.failure.set((502, "<html><body>502 Bad Gateway</body></html>"), times=1)

    with pytest.raises(Retry):
        scan(rig)
    assert not Deposit.objects.exists()
    assert ScanCursor.objects.get().last_error.startswith(
        "ChainError: GET /blocks/tip/height failed on every URL"
    )
    scan(rig)
    assert outcome(rig.client, rig.topup) == PAID


def test_a_pasted_mempool_payment_is_recorded_then_confirmed_by_the_scanner(make_rig, client):
    rig = make_rig()
    paying = payment(rig.address, SATS_45_USD)
    rig.fake.mempool[paying["txid"]] = paying
    client.force_login(rig.client.user)

    response = client.post(f"/api/v1/topups/{rig.topup.public_id}/tx-hash/", {"tx_hash": paying["txid"]})

    assert (response.status_code, response.json()["status"]) == (200, "found")
    deposit = Deposit.objects.get()
    assert (deposit.block_height, deposit.confirmations, deposit.status) == (None, 0, "pending")
    assert outcome(rig.client, rig.topup) == expect(status="confirming", deposits=("pending",))
    del rig.fake.mempool[paying["txid"]]
    rig.fake.mine([paying])
    rig.fake.mine_empty(CONFIRMATIONS - 1)
    scan(rig)
    assert outcome(rig.client, rig.topup) == PAID
