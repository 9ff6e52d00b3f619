"""The tx-hash fast path (``POST /api/v1/topups/{id}/tx-hash/``) against a fake TronGrid.

The top-up is USDT on TRON; TRX on TRON is the family's other enabled network, so a TRX payment to
the top-up's address is ``wrong_network``. Every refusal asserts its exact code and that nothing
was written (no lookup, no deposit, no status change); the successes assert the deposit that
``deposit_observe`` recorded and the lookup's status; a node that is down or hangs leaves today's
behaviour (202 queued and a background lookup), bounded by the short timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from nexora.common.models import StatusChange
from payments.models import Deposit, TopUp, TxLookup
from payments.services.lookups import tx_lookup_run
from payments.services.topups import topup_create
from tests.fake_http import LocalServer
from tests.payments.fake_trongrid import (
    DEAD_URL,
    FakeTronGrid,
    account,
    h256,
    ref,
    trc20_call,
    tron_grid_respond,
    trx_transfer,
)

pytestmark = pytest.mark.django_db
PAYER = account("payer")
USDT = 10**6


@pytest.fixture
def grid() -> Iterator[tuple[FakeTronGrid, str]]:
    fake = FakeTronGrid()
    with LocalServer(tron_grid_respond(fake)) as server:
        yield fake, server.url


@pytest.fixture
def env(grid, make_network, client_profile, settings) -> SimpleNamespace:
    fake, url = grid
    settings.NEXORA_TX_LOOKUP_TIMEOUT_S = 2.0
    options = {"backoff_s": 0}
    usdt = make_network("usdt-trc20", node_urls=[url], confirmations=3, options=options)
    make_network("trx", node_urls=[url], confirmations=3, options=options)
    topup = topup_create(client=client_profile, network_code="usdt-trc20", amount="50").topup
    return SimpleNamespace(fake=fake, url=url, network=usdt, topup=topup, address=topup.address.address)


def submit(client_api: Any, topup: TopUp, tx_hash: str) -> Any:
    return client_api.post(f"/api/v1/topups/{topup.public_id}/tx-hash/", {"tx_hash": tx_hash}, format="json")


def written() -> tuple[int, int, int]:
    return TxLookup.objects.count(), Deposit.objects.count(), StatusChange.objects.count()


def refusal(response: Any) -> tuple[int, str, list[dict[str, str]]]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["fields"]["tx_hash"]


# -- found, pending, queued ----------------------------------------------------------------------


def test_a_mined_payment_is_recorded_at_once(client_api, env, django_capture_on_commit_callbacks):
    tx, _ = payment = trc20_call(PAYER, env.address, 50 * USDT)
    block = env.fake.mine([payment])
    env.fake.mine_empty(5)  # 6 blocks deep, but the solidified block trails the head by 19

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = submit(client_api, env.topup, tx["txID"].upper())

    assert (response.status_code, response.json()) == (200, {"tx_hash": tx["txID"], "status": "found"})
    # nothing left for the background task (the only callback is the client's "payment seen" notice)
    assert [c.__qualname__ for c in callbacks] == ["announce.<locals>.<lambda>"]
    deposit = Deposit.objects.get()
    assert (deposit.tx_hash, deposit.index, deposit.amount, deposit.sender, deposit.status) == (
        tx["txID"], 0, 50 * USDT, PAYER, "pending")  # fmt: skip
    # counted against min(head, solidified + 3 - 1): at most 2 of the 3 until its block is final
    assert (deposit.block_height, deposit.block_hash, deposit.confirmations) == (
        ref(block).height, block["blockID"], 2)  # fmt: skip
    assert TopUp.objects.get().status == "confirming"
    lookup = TxLookup.objects.get()
    assert (lookup.status, lookup.attempts) == ("found", 1)
    again = submit(client_api, env.topup, tx["txID"])
    assert (again.status_code, again.json()["status"]) == (200, "found")
    assert written() == (1, 1, StatusChange.objects.count())


def test_confirmations_follow_the_solidified_block(client_api, env):
    env.fake.solid_lag = 0
    tx, _ = payment = trc20_call(PAYER, env.address, 50 * USDT)
    env.fake.mine([payment])
    env.fake.mine_empty(2)  # 3 blocks deep and solidified: confirmed, then credited, in the request

    assert submit(client_api, env.topup, tx["txID"]).status_code == 200

    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.confirmations) == ("credited", 3)
    assert TopUp.objects.get().status == "completed"


def test_a_pending_token_payment_is_reported_then_found_by_the_task(
    client_api, env, django_capture_on_commit_callbacks
):
    tx, info = trc20_call(PAYER, env.address, 50 * USDT)
    env.fake.pending[tx["txID"]] = tx

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = submit(client_api, env.topup, tx["txID"])

    assert (response.status_code, response.json()) == (202, {"tx_hash": tx["txID"], "status": "pending"})
    assert len(callbacks) == 1 and not Deposit.objects.exists()
    lookup = TxLookup.objects.get()
    assert lookup.status == "pending"
    del env.fake.pending[tx["txID"]]
    env.fake.mine([(tx, info)])
    assert tx_lookup_run(lookup_id=lookup.pk).status == "found"
    assert Deposit.objects.values_list("tx_hash", "index", "amount").get() == (tx["txID"], 0, 50 * USDT)


@pytest.mark.parametrize("urls", [[], [DEAD_URL]])
def test_an_unreachable_node_queues_the_lookup(
    client_api, client_profile, make_network, django_capture_on_commit_callbacks, urls
):
    make_network("usdt-trc20", node_urls=urls, options={"backoff_s": 0})
    topup = topup_create(client=client_profile, network_code="usdt-trc20", amount="50").topup
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = submit(client_api, topup, "ab" * 32)
        again = submit(client_api, topup, "ab" * 32)
    assert (response.status_code, response.json()) == (202, {"tx_hash": "ab" * 32, "status": "queued"})
    assert again.status_code == 202 and len(callbacks) == 1
    assert TxLookup.objects.get().status == "queued" and not Deposit.objects.exists()


def test_a_hanging_node_is_given_up_after_the_short_timeout(
    client_api, client_profile, make_network, settings
):
    def hang(method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        time.sleep(3)
        return 200, {}

    settings.NEXORA_TX_LOOKUP_TIMEOUT_S = 0.3
    with LocalServer(hang) as server:
        make_network("usdt-trc20", node_urls=[server.url], options={"backoff_s": 0})
        topup = topup_create(client=client_profile, network_code="usdt-trc20", amount="50").topup
        started = time.monotonic()
        response = submit(client_api, topup, "ab" * 32)
        elapsed = time.monotonic() - started
    assert (response.status_code, response.json()["status"]) == (202, "queued")
    assert elapsed < 2


# -- refusals: 400 and nothing written -----------------------------------------------------------


def test_trx_sent_to_a_usdt_top_up_is_wrong_network(client_api, env):
    tx, _ = payment = trx_transfer(PAYER, env.address, 50 * USDT)
    env.fake.mine([payment])
    before = written()

    status, code, fields = refusal(submit(client_api, env.topup, tx["txID"]))

    assert (status, code) == (400, "wrong_network")
    assert fields == [{
        "code": "wrong_network", "network": "trx",
        "message": "This transaction pays this address on TRX, not on USDT (TRON, TRC-20). Payments sent on "
                   "another network are not credited automatically; please contact support.",
    }]  # fmt: skip
    assert written() == before


def test_a_payment_to_someone_else_is_not_to_this_address(client_api, env):
    tx, _ = payment = trc20_call(PAYER, account("someone else"), 50 * USDT)
    env.fake.mine([payment])
    before = written()
    status, code, fields = refusal(submit(client_api, env.topup, tx["txID"]))
    assert (status, code) == (400, "not_to_this_address")
    assert fields[0]["message"] == (
        "This transaction does not send USDT to this top-up's address on USDT (TRON, TRC-20)."
    )
    assert written() == before


def test_a_look_alike_token_is_not_to_this_address(client_api, env):
    fake_usdt = "41" + h256("fake-usdt")[:40]
    tx, _ = payment = trc20_call(PAYER, env.address, 50 * USDT, contract_hex=fake_usdt)
    env.fake.mine([payment])
    assert refusal(submit(client_api, env.topup, tx["txID"]))[:2] == (400, "not_to_this_address")
    assert not TxLookup.objects.exists()


def test_a_reverted_payment_is_failed_transaction(client_api, env):
    tx, _ = payment = trc20_call(PAYER, env.address, 50 * USDT, result="REVERT")
    env.fake.mine([payment])
    before = written()
    status, code, fields = refusal(submit(client_api, env.topup, tx["txID"]))
    message = "This transaction failed on the blockchain and moved no funds."
    assert (status, code, fields[0]["message"]) == (400, "failed_transaction", message)
    assert written() == before


def test_an_unknown_hash_is_tx_not_found(client_api, env):
    before = written()
    status, code, fields = refusal(submit(client_api, env.topup, h256("nobody sent this")))
    assert (status, code) == (400, "tx_not_found")
    assert fields[0]["message"].startswith("No transaction with this hash was found on USDT (TRON, TRC-20).")
    assert written() == before
    paths = [path for path, _, _ in env.fake.calls]
    assert paths.count("/wallet/gettransactionbyid") == 2  # this network, then TRX's


def test_an_unknown_hash_is_queued_when_another_network_cannot_be_asked(
    client_api, grid, make_network, client_profile
):
    _, url = grid
    make_network("usdt-trc20", node_urls=[url], options={"backoff_s": 0})
    make_network("trx", node_urls=[DEAD_URL], options={"backoff_s": 0})
    topup = topup_create(client=client_profile, network_code="usdt-trc20", amount="50").topup
    response = submit(client_api, topup, h256("maybe sent on TRX"))
    assert (response.status_code, response.json()["status"]) == (202, "queued")


def test_the_page_form_shows_each_outcome_translated(client, client_profile, env):
    client.force_login(client_profile.user)
    url = f"/topups/{env.topup.public_id}/tx-hash/"
    trx_tx, _ = trx = trx_transfer(PAYER, env.address, 5 * USDT)
    token_tx, _ = token = trc20_call(PAYER, env.address, 50 * USDT)
    env.fake.mine([trx, token])

    client.cookies["nexora_lang"] = "ru"
    refused = client.post(url, {"tx_hash": trx_tx["txID"]})
    assert refused.status_code == 400
    expected = "Эта транзакция оплачивает этот адрес в сети TRX, а не в сети этого пополнения."  # noqa: RUF001
    assert expected in refused.content.decode()
    assert not TxLookup.objects.exists()
    client.cookies["nexora_lang"] = "uk"
    found = client.post(url, {"tx_hash": token_tx["txID"]}, follow=True)
    assert "Ми знайшли ваш платіж." in found.content.decode()
    client.cookies["nexora_lang"] = "en"
    missing = client.post(url, {"tx_hash": h256("nothing")})
    assert "No transaction with this hash was found on this network." in missing.content.decode()
