"""The top-up and network endpoints: exact response shapes, every refusal, other clients' data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nexora.accounts.services import account_freeze
from payments.models import Deposit, DepositAddress, DerivationCounter, TopUp, TxLookup
from payments.services.topups import topup_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def trc20(make_network):
    return make_network("usdt-trc20")


def written():
    return (TopUp.objects.count(), DepositAddress.objects.count(), TxLookup.objects.count(),
            sum(DerivationCounter.objects.values_list("next_index", flat=True)))  # fmt: skip


def error_of(response):
    body = response.json()
    return response.status_code, body["error"]["code"]


def test_networks_lists_enabled_networks_only(client_api, make_network):
    make_network("usdt-trc20")
    make_network("btc", enabled=False)
    response = client_api.get("/api/v1/networks/")
    assert response.status_code == 200
    assert response.json() == [{
        "code": "usdt-trc20", "name": "USDT (TRON, TRC-20)", "family": "tron", "chain_id": None,
        "asset": "USDT", "token_contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "decimals": 6,
        "quote_places": 6, "confirmations": 19, "min_amount": "1", "quote_window_s": 1800,
    }]  # fmt: skip


def test_create_returns_the_full_quote(client_api, client_profile, trc20):
    response = client_api.post("/api/v1/topups/", {"network": "usdt-trc20", "amount": "50.00"}, format="json")
    assert response.status_code == 201
    body = response.json()
    topup = TopUp.objects.get()
    assert body["id"] == str(topup.public_id)
    assert body["address"] == "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"  # m/44'/195'/0'/0/0 of "abandon ... about"
    expected = {
        "network": "usdt-trc20", "asset": "USDT", "amount": "50.00", "currency": "USD", "crypto_amount": "50",
        "rate": "1", "payment_uri": "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH", "status": "awaiting_payment",
        "exception": "none", "under_review": False, "required_confirmations": 19, "confirmations": 0,
        "paid_crypto": "0", "credited_amount": "0.00", "deposits": [],
    }  # fmt: skip
    assert {k: body[k] for k in expected} == expected
    assert set(body) == {*expected, "id", "address", "expires_at", "monitor_until", "created_at"}
    assert (topup.expires_at - topup.created_at).total_seconds() == pytest.approx(1800, abs=1)
    assert (topup.monitor_until - topup.created_at).total_seconds() == pytest.approx(7 * 86400, abs=1)


@pytest.mark.parametrize(
    ("code", "amount", "uri"),
    [
        ("eth", "30.00", "ethereum:0x9858EfFD232B4033E47d90003D41EC34EcaEda94@1?value=10000000000000000"),
        (
            "usdt-erc20",
            "12.34",
            "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer"
            "?address=0x9858EfFD232B4033E47d90003D41EC34EcaEda94&uint256=12340000",
        ),
        ("btc", "90.00", "bitcoin:bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu?amount=0.001"),
    ],
)
def test_payment_uris_follow_eip681_and_bip21(client_api, make_network, code, amount, uri):
    make_network(code)
    response = client_api.post("/api/v1/topups/", {"network": code, "amount": amount}, format="json")
    assert response.status_code == 201
    assert response.json()["payment_uri"] == uri


def test_crypto_amount_is_rounded_up_at_the_quote_precision(client_api, make_network, settings):
    from payments.services.quotes import rate_service

    settings.NEXORA_STATIC_RATES = {"BTC/USD": "91234.56"}
    rate_service.cache_clear()
    make_network("btc")
    body = client_api.post("/api/v1/topups/", {"network": "btc", "amount": "100.00"}, format="json").json()
    assert body["crypto_amount"] == "0.00109608"  # 100 / 91234.56 = 0.0010960758..., up at 8 places
    assert body["rate"] == "91234.56"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"network": "usdt-trc20", "amount": "abc"}, 400, "invalid_amount"),
        ({"network": "usdt-trc20", "amount": "0"}, 400, "amount_not_positive"),
        ({"network": "usdt-trc20", "amount": "-5"}, 400, "amount_not_positive"),
        ({"network": "usdt-trc20", "amount": "1.001"}, 400, "too_many_decimals"),
        ({"network": "usdt-trc20", "amount": 12.5}, 400, "invalid_input"),
        ({"network": "usdt-trc20", "amount": "1e3"}, 400, "invalid_amount"),
        ({"network": "usdt-trc20", "amount": "0.50"}, 400, "amount_below_minimum"),
        ({"network": "usdt-trc20", "amount": "10000.01"}, 400, "amount_above_limit"),
        ({"network": "doge", "amount": "10"}, 400, "unknown_network"),
        ({"network": "btc", "amount": "10"}, 400, "unknown_network"),  # disabled
        ({"amount": "10"}, 400, "invalid_input"),
        ({"network": "usdt-trc20"}, 400, "invalid_input"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(client_api, trc20, make_network, body, status, code):
    make_network("btc", enabled=False)
    before = written()
    response = client_api.post("/api/v1/topups/", body, format="json")
    assert error_of(response) == (status, code)
    assert response.json()["error"]["message"]
    assert written() == before


def test_below_minimum_message_names_the_minimum(client_api, trc20):
    response = client_api.post("/api/v1/topups/", {"network": "usdt-trc20", "amount": "0.99"}, format="json")
    assert response.json()["error"]["fields"]["amount"][0]["message"] == (
        "The minimum on USDT (TRON, TRC-20) is 1 USDT (about 1.00 USD)."
    )


def test_frozen_account_cannot_create_a_top_up(client_api, client_profile, trc20):
    account_freeze(profile=client_profile, reason="review")
    before = written()
    response = client_api.post("/api/v1/topups/", {"network": "usdt-trc20", "amount": "50.00"}, format="json")
    assert error_of(response) == (409, "account_frozen")
    assert written() == before


def test_open_top_ups_are_capped(client_api, trc20, settings):
    settings.NEXORA_TOPUP_MAX_OPEN = 2
    for _ in range(2):
        assert (
            client_api.post(
                "/api/v1/topups/", {"network": "usdt-trc20", "amount": "5"}, format="json"
            ).status_code
            == 201
        )
    response = client_api.post("/api/v1/topups/", {"network": "usdt-trc20", "amount": "5"}, format="json")
    assert error_of(response) == (409, "too_many_open_topups")


def test_rate_unavailable_is_503_and_writes_nothing(client_api, trc20, settings):
    from payments.services.quotes import rate_service

    settings.NEXORA_STATIC_RATES = {"BTC/USD": "90000"}  # no USDT price at all
    rate_service.cache_clear()
    before = written()
    response = client_api.post("/api/v1/topups/", {"network": "usdt-trc20", "amount": "50"}, format="json")
    assert error_of(response) == (503, "rate_unavailable")
    assert written() == before


def test_idempotency_key_returns_the_first_top_up(client_api, trc20):
    body = {"network": "usdt-trc20", "amount": "50.00"}
    first = client_api.post("/api/v1/topups/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client_api.post("/api/v1/topups/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and TopUp.objects.count() == 1
    other = client_api.post(
        "/api/v1/topups/", {**body, "amount": "60"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert error_of(other) == (409, "idempotency_key_reused")


def test_list_and_detail_show_only_own_top_ups(client_api, client_profile, make_client, trc20, api):
    mine = topup_create(client=client_profile, network_code="usdt-trc20", amount="20").topup
    other = make_client()
    theirs = topup_create(client=other, network_code="usdt-trc20", amount="30").topup
    listing = client_api.get("/api/v1/topups/").json()
    assert [t["id"] for t in listing["results"]] == [str(mine.public_id)]
    assert client_api.get(f"/api/v1/topups/{mine.public_id}/").status_code == 200
    assert error_of(client_api.get(f"/api/v1/topups/{theirs.public_id}/")) == (404, "not_found")
    assert error_of(client_api.get("/api/v1/topups/not-a-uuid/")) == (404, "not_found")
    tx = "a" * 64
    assert error_of(client_api.post(f"/api/v1/topups/{theirs.public_id}/tx-hash/", {"tx_hash": tx})) == (
        404, "not_found")  # fmt: skip
    assert api.get("/api/v1/topups/").status_code == 401


def test_addresses_are_never_reused_and_shared_keys_share_a_counter(client_profile, make_network):
    make_network("eth")
    make_network("usdt-erc20")
    addresses = [
        topup_create(client=client_profile, network_code=code, amount="5").topup.address
        for code in ("eth", "usdt-erc20", "eth")
    ]
    assert [a.index for a in addresses] == [0, 1, 2]
    assert addresses[0].address == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    assert len({a.address for a in addresses}) == 3


class TestTxHash:
    @pytest.fixture
    def topup(self, client_profile, trc20):
        return topup_create(client=client_profile, network_code="usdt-trc20", amount="50").topup

    def test_valid_hash_is_accepted_and_queued_once(
        self, client_api, topup, django_capture_on_commit_callbacks
    ):
        url = f"/api/v1/topups/{topup.public_id}/tx-hash/"
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            first = client_api.post(url, {"tx_hash": "AB" * 32}, format="json")
            again = client_api.post(url, {"tx_hash": "ab" * 32}, format="json")
        assert (first.status_code, again.status_code) == (202, 202)
        assert first.json() == {"tx_hash": "ab" * 32, "status": "queued"}
        assert TxLookup.objects.count() == 1 and len(callbacks) == 1

    @pytest.mark.parametrize("tx_hash", ["a" * 63, "g" * 64, "", "a" * 65, "0x" + "a" * 63, " "])
    def test_malformed_hash_is_400(self, client_api, topup, tx_hash):
        response = client_api.post(
            f"/api/v1/topups/{topup.public_id}/tx-hash/", {"tx_hash": tx_hash}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] in {"invalid_tx_hash", "invalid_input"}
        assert not TxLookup.objects.exists()

    def test_evm_hash_needs_0x(self, client_api, client_profile, make_network):
        make_network("eth")
        topup = topup_create(client=client_profile, network_code="eth", amount="50").topup
        url = f"/api/v1/topups/{topup.public_id}/tx-hash/"
        assert error_of(client_api.post(url, {"tx_hash": "a" * 64}, format="json")) == (
            400,
            "invalid_tx_hash",
        )

    def test_hash_of_another_top_up_is_409(self, client_api, client_profile, topup, make_client):
        other = topup_create(client=make_client(), network_code="usdt-trc20", amount="50").topup
        Deposit.objects.create(
            network=other.network, tx_hash="c" * 64, index=0, address=other.address, client=other.client,
            topup=other, amount=50 * 10**6, seen_at=other.created_at,
        )  # fmt: skip
        response = client_api.post(
            f"/api/v1/topups/{topup.public_id}/tx-hash/", {"tx_hash": "c" * 64}, format="json"
        )
        assert error_of(response) == (409, "tx_hash_taken")
        assert not TxLookup.objects.exists()


def test_held_deposit_reads_under_review_without_reasons(client_api, client_profile, trc20):
    from payments.hooks import Verdict, screener_register, screener_unregister
    from payments.services.deposits import deposit_observe
    from tests.payments.memory_chain import memory_chain

    topup = topup_create(client=client_profile, network_code="usdt-trc20", amount="50").topup
    chain = memory_chain(trc20)
    chain.pay(topup.address.address, 50 * 10**6)
    chain.mine(19)

    def review(fact):
        return Verdict.REVIEW

    screener_register("deposit_confirmed", review)
    try:
        deposit_observe(network=trc20, transfer=chain.blocks[1][1][0], head=chain.head())
    finally:
        screener_unregister("deposit_confirmed", review)
    body = client_api.get(f"/api/v1/topups/{topup.public_id}/").json()
    assert (body["status"], body["under_review"], body["credited_amount"]) == ("completed", True, "50.00")
    assert [d["status"] for d in body["deposits"]] == ["under_review"]
    assert "review" not in str(body["deposits"][0]).replace("under_review", "")
    assert Decimal(client_api.get("/api/v1/balance/").json()["held"]) == Decimal("50.00")
