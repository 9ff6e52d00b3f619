"""The client area's pages through Django's test client: exact content, EN/RU/UK, every refusal.

Each failure path asserts the translated message next to its field, HTTP 400, and that nothing was
written (top-ups, addresses, derivation counters, lookups). The payment page is checked for the
exact address, amount, payment URI and QR code a wallet needs; the under-review page for the
neutral text and the absence of any reason (invariant 8).
"""

from __future__ import annotations

import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
import segno
from django.utils.html import escape

from nexora.accounts.services import account_freeze
from payments.hooks import Verdict, screener_register, screener_unregister
from payments.models import Deposit, DepositAddress, DerivationCounter, TopUp, TxLookup
from payments.services.topups import topup_create
from tests.payments.memory_chain import MemoryScanner, memory_chain

pytestmark = pytest.mark.django_db

ERC20_ADDRESS = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"  # m/44'/60'/0'/0/0 of "abandon ... about"
ERC20_URI = (
    f"ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address={ERC20_ADDRESS}&uint256=12340000"
)
FORM_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def erc20(make_network):
    return make_network("usdt-erc20")


@pytest.fixture
def browser(client, client_profile):
    client.force_login(client_profile.user)
    return client


def written():
    return (TopUp.objects.count(), DepositAddress.objects.count(), TxLookup.objects.count(),
            sum(DerivationCounter.objects.values_list("next_index", flat=True)))  # fmt: skip


def html(response) -> str:
    return response.content.decode()


def text(response) -> str:
    """The page's visible text with tags removed and whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html(response)).split())


def form_key_of(response) -> str:
    match = re.search(r'name="form_key" value="(\w+)"', html(response))
    assert match is not None
    return match[1]


def qr_of(uri: str) -> str:
    """The inline SVG of a full QR code (never Micro QR) of ``uri``, as the page must embed it."""
    qr = segno.make(uri, error="m", micro=False)
    return qr.svg_inline(scale=4, border=2, dark="#000", light="#fff", omitsize=True, svgclass="qr")


def create(client_profile, amount="12.34", network="usdt-erc20") -> TopUp:
    return topup_create(client=client_profile, network_code=network, amount=amount).topup


def post_new(browser, **data):
    return browser.post("/topups/new/", {"network": "usdt-erc20", "amount": "12.34", **data})


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/topups/", "/topups/new/", "/topups/00000000-0000-0000-0000-000000000000/"]
)
def test_anonymous_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_staff_have_no_client_area(client, make_staff):
    client.force_login(make_staff("support"))
    assert client.get("/topups/new/").status_code == 403


def test_another_clients_top_up_is_404(browser, make_client, erc20):
    theirs = create(make_client())
    before = written()
    assert browser.get(f"/topups/{theirs.public_id}/").status_code == 404
    response = browser.post(f"/topups/{theirs.public_id}/tx-hash/", {"tx_hash": "0x" + "a" * 64})
    assert response.status_code == 404 and written() == before
    assert browser.get("/topups/not-a-uuid/").status_code == 404


def test_login_form_logs_in_and_lands_on_the_account(client, client_profile):
    response = client.post(
        "/accounts/login/", {"username": client_profile.user.username, "password": "pw-123456"}, follow=True
    )
    assert response.status_code == 200
    assert "Your account" in text(response) and "100.00 USD" in text(response)


# --- new top-up ----------------------------------------------------------------------------------


def test_new_top_up_page_lists_enabled_networks(browser, erc20, make_network):
    make_network("btc", enabled=False)
    make_network("usdt-trc20")
    response = browser.get("/topups/new/")
    assert response.status_code == 200
    page = text(response)
    assert "Top up your balance" in page and "Available balance: 100.00 USD" in page
    assert "USDT (Ethereum, ERC-20) Ethereum · minimum 1 USDT" in page
    assert "USDT (TRON, TRC-20) TRON · minimum 1 USDT" in page
    assert "Bitcoin" not in page
    assert re.search(r'name="form_key" value="[0-9a-f]{32}"', html(response))


def test_form_creates_the_top_up_and_redirects_to_its_page(browser, client_profile, erc20):
    response = post_new(browser, form_key=FORM_KEY)
    topup = TopUp.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/topups/{topup.public_id}/"
    assert (topup.client, topup.amount, topup.crypto_amount) == (client_profile, Decimal("12.34"), 12_340_000)
    assert topup.idempotency_key == f"web:{FORM_KEY}"


def test_double_submit_with_one_form_key_creates_one_top_up(browser, erc20):
    first, second = post_new(browser, form_key=FORM_KEY), post_new(browser, form_key=FORM_KEY)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert TopUp.objects.count() == 1 and DepositAddress.objects.count() == 1


def test_each_form_render_gets_its_own_key(browser, erc20):
    keys = {form_key_of(browser.get("/topups/new/")) for _ in range(2)}
    assert len(keys) == 2
    post_new(browser, form_key=keys.pop())
    post_new(browser, form_key=keys.pop())
    assert TopUp.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "abc"}, "amount", "Enter the amount as a number, for example 50 or 50.00."),
        ({"amount": "0"}, "amount", "The amount must be greater than zero."),
        ({"amount": "1.001"}, "amount", "Use at most two decimal places, for example 10.50."),
        ({"amount": ""}, "amount", "Enter the amount as a number, for example 50 or 50.00."),
        ({"amount": "20000"}, "amount", "This amount is above your account&#x27;s top-up limit."),
        ({"network": "dogecoin"}, "network", "Choose one of the networks listed."),
        ({"network": ""}, "network", "Choose one of the networks listed."),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_writes_nothing(browser, erc20, data, field, message):
    before = written()
    response = post_new(browser, form_key=FORM_KEY, **data)
    assert response.status_code == 400
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in html(response)
    assert written() == before
    assert form_key_of(response) != FORM_KEY  # the next attempt is a new request, not a replay


def test_amount_with_a_decimal_comma_is_read_as_cents(browser, erc20):
    assert post_new(browser, amount="10,5", form_key=FORM_KEY).status_code == 302
    assert TopUp.objects.get().amount == Decimal("10.50")
    before = written()
    response = post_new(browser, amount="1,000", form_key="f" * 32)  # a thousand? one? refused, not guessed
    assert response.status_code == 400 and written() == before
    assert "Enter the amount as a number, for example 50 or 50.00." in text(response)


def test_amount_below_the_network_minimum_names_the_minimum(browser, make_network):
    make_network("eth")  # minimum 0.001 ETH = 3.00 USD at the static rate
    before = written()
    response = browser.post("/topups/new/", {"network": "eth", "amount": "1.00", "form_key": FORM_KEY})
    assert response.status_code == 400
    assert '<p class="field-error" id="amount-error">The minimum on Ether is 0.001 ETH.</p>' in html(response)
    assert 'value="1.00"' in html(response) and 'value="eth" required checked' in html(response)
    assert written() == before


def test_frozen_account_gets_a_neutral_error_and_nothing_is_written(browser, client_profile, erc20):
    account_freeze(profile=client_profile, reason="t")
    before = written()
    response = post_new(browser, form_key=FORM_KEY)
    assert response.status_code == 400
    message = "New top-ups are not available for your account at the moment. Please contact support."
    assert f'<div class="notice notice-error" role="alert"><p>{message}</p></div>' in html(response)
    assert "frozen" not in html(response).lower()
    assert written() == before


def test_errors_are_translated(browser, erc20):
    browser.cookies["nexora_lang"] = "ru"
    response = post_new(browser, amount="1.001")
    assert response.status_code == 400
    assert "Укажите не больше двух знаков после запятой, например 10,50." in text(response)
    browser.cookies["nexora_lang"] = "uk"
    response = post_new(browser, network="dogecoin")
    assert "Виберіть одну з мереж зі списку." in text(response)


# --- the top-up page -----------------------------------------------------------------------------


def test_top_up_page_shows_exactly_what_to_pay(browser, client_profile, erc20):
    topup = create(client_profile)
    response = browser.get(f"/topups/{topup.public_id}/")
    assert response.status_code == 200
    page, body = text(response), html(response)
    assert f'data-testid="address">{ERC20_ADDRESS}</code>' in body
    assert 'data-testid="crypto-amount">12.34<span class="asset">USDT</span>' in body
    assert f'data-copy="{ERC20_ADDRESS}" aria-label="Copy the address"' in body
    assert 'data-copy="12.34" aria-label="Copy the amount"' in body
    assert f'href="{escape(ERC20_URI)}"' in body
    assert qr_of(ERC20_URI) in body
    assert body.count("<svg") == 4  # logo, two theme icons, the QR code
    assert "Send only USDT on the USDT (Ethereum, ERC-20) network to this address." in page
    assert "Waiting for your payment" in page and "Confirmations 0 of 3" in page
    assert "Received so far 0 / 12.34 USDT" in page and "Credited 0.00 USD" in page
    assert f'data-expires="{topup.expires_at.isoformat()}"' in body
    assert "Rate locked until" in page and "No payment detected yet." in page
    assert f'data-api-url="/api/v1/topups/{topup.public_id}/"' in body
    assert '<script id="topup-texts" type="application/json">' in body


def test_tron_page_has_no_wallet_link_and_the_bare_address_in_the_qr(browser, client_profile, make_network):
    make_network("usdt-trc20")
    topup = create(client_profile, amount="50", network="usdt-trc20")
    body = html(browser.get(f"/topups/{topup.public_id}/"))
    assert "Open in a wallet app" not in body
    assert qr_of("TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH") in body


@pytest.mark.parametrize(
    ("lang", "strings"),
    [
        ("ru", ["Пополнение на 12,34 USD", "Ожидаем ваш платёж", "Сумма к отправке", "Адрес для пополнения",
                "Отправляйте на этот адрес только USDT в сети USDT (Ethereum, ERC-20)", "0 из 3"]),
        ("uk", ["Поповнення на 12,34 USD", "Очікуємо на ваш платіж", "Сума до відправлення",
                "Адреса для поповнення",
                "Надсилайте на цю адресу лише USDT у мережі USDT (Ethereum, ERC-20)",  # noqa: RUF001
                "0 з 3"]),
    ],
)  # fmt: skip
def test_top_up_page_in_russian_and_ukrainian(browser, client_profile, erc20, lang, strings):
    topup = create(client_profile)
    browser.cookies["nexora_lang"] = lang
    response = browser.get(f"/topups/{topup.public_id}/")
    assert f'<html lang="{lang}">' in html(response)
    page = text(response)
    for string in strings:
        assert string in page
    assert "Waiting for your payment" not in page


@pytest.mark.parametrize(
    ("lang", "heading"),
    [("en", "Top up your balance"), ("ru", "Пополнение баланса"), ("uk", "Поповнення балансу")],
)
def test_language_switcher_sets_the_cookie(browser, erc20, lang, heading):
    response = browser.post("/i18n/setlang/", {"language": lang, "next": "/topups/new/"})
    assert response.status_code == 302 and response["Location"] == "/topups/new/"
    assert browser.cookies["nexora_lang"].value == lang
    assert f"<h1>{heading}</h1>" in html(browser.get("/topups/new/"))


@pytest.fixture
def paid(client_profile, erc20):
    """A top-up paid in full on an in-memory chain, one block deep (confirming)."""
    topup = create(client_profile)
    chain = memory_chain(erc20)
    tx = chain.pay(topup.address.address, 12_340_000)
    chain.mine()
    scanner = MemoryScanner(erc20, chain)
    scanner.sync()
    return SimpleNamespace(topup=topup, chain=chain, scanner=scanner, tx=tx)


def test_confirming_payment_lists_the_deposit_with_its_explorer_link(browser, paid):
    response = browser.get(f"/topups/{paid.topup.public_id}/")
    page, body = text(response), html(response)
    assert "Payment seen, waiting for confirmations" in page and "Confirmations 1 of 3" in page
    assert "Received so far 12.34 / 12.34 USDT" in page
    assert f'href="https://etherscan.io/tx/{paid.tx.tx_hash}"' in body
    assert "12.34 USDT 1 / 3 Confirming" in page


def test_completed_payment_reads_completed(browser, paid):
    paid.chain.mine(2)
    paid.scanner.sync()
    page = text(browser.get(f"/topups/{paid.topup.public_id}/"))
    assert "Completed The payment was credited to your balance." in page
    assert "Credited 12.34 USD" in page and "Confirmations 3 of 3" in page
    assert "Already paid?" not in page  # nothing left to look up


def test_held_payment_reads_under_review_and_nothing_more(browser, paid):
    def review(fact):
        return Verdict.REVIEW

    screener_register("deposit_confirmed", review)
    try:
        paid.chain.mine(2)
        paid.scanner.sync()
    finally:
        screener_unregister("deposit_confirmed", review)
    assert Deposit.objects.get().hold_id is not None
    for path in (f"/topups/{paid.topup.public_id}/", "/topups/"):
        body = html(browser.get(path))
        assert "Under review" in body
        assert "Deposit under review" not in body and "deposit_confirmed" not in body
        assert "rule" not in body.lower() and "sanction" not in body.lower()
    page = text(browser.get("/topups/"))
    assert "Held 12.34 USD" in page


def test_expired_top_up_reads_expired(browser, client_profile, erc20):
    topup = create(client_profile)
    TopUp.objects.filter(pk=topup.pk).update(status="expired")
    page = text(browser.get(f"/topups/{topup.public_id}/"))
    assert "Expired The time to pay ran out before a payment arrived." in page
    assert "Time left to pay" not in page


# --- the tx-hash form ------------------------------------------------------------------------------


def test_tx_hash_form_queues_a_lookup(browser, client_profile, erc20, django_capture_on_commit_callbacks):
    topup = create(client_profile)
    url = f"/topups/{topup.public_id}/tx-hash/"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = browser.post(url, {"tx_hash": "0x" + "AB" * 32})
        again = browser.post(url, {"tx_hash": "0x" + "ab" * 32})
    assert response.status_code == again.status_code == 302
    assert response["Location"] == f"/topups/{topup.public_id}/"
    assert list(TxLookup.objects.values_list("tx_hash", flat=True)) == ["0x" + "ab" * 32]
    assert len(callbacks) == 1
    assert "Thank you. We are looking up your transaction now." in text(browser.get(response["Location"]))


@pytest.mark.parametrize("tx_hash", ["a" * 64, "0x" + "g" * 64, "", "0x123"])
def test_malformed_tx_hash_is_shown_and_writes_nothing(browser, client_profile, erc20, tx_hash):
    topup = create(client_profile)
    before = written()
    response = browser.post(f"/topups/{topup.public_id}/tx-hash/", {"tx_hash": tx_hash})
    assert response.status_code == 400
    message = "This is not a valid transaction hash for this network."
    assert f'<p class="field-error" id="tx-error" role="alert">{message}</p>' in html(response)
    assert '<details class="card" open>' in html(response)
    assert written() == before


def test_tx_hash_of_another_top_up_is_refused(browser, client_profile, erc20, make_client):
    topup, other = create(client_profile), create(make_client())
    Deposit.objects.create(
        network=erc20, tx_hash="0x" + "c" * 64, index=0, address=other.address, client=other.client,
        topup=other, amount=1, seen_at=other.created_at,
    )  # fmt: skip
    before = written()
    response = browser.post(f"/topups/{topup.public_id}/tx-hash/", {"tx_hash": "0x" + "c" * 64})
    assert response.status_code == 400
    assert "This transaction was already credited to another top-up." in text(response)
    assert f'name="next" type="hidden" value="/topups/{topup.public_id}/"' in html(response)
    assert written() == before


# --- history ---------------------------------------------------------------------------------------


def test_history_lists_top_ups_entries_and_balance(browser, client_profile, erc20):
    topup = create(client_profile)
    response = browser.get("/topups/")
    assert response.status_code == 200
    page, body = text(response), html(response)
    assert "Available 100.00 USD" in page and "Held 0.00 USD" in page
    assert f'href="/topups/{topup.public_id}/"' in body
    assert "USDT (Ethereum, ERC-20) 12.34 USD 12.34 USDT Waiting for your payment" in page
    assert "Top-up Available +100.00 USD" in page  # the seed credit


def test_history_paginates_top_ups(browser, client_profile, erc20, monkeypatch):
    monkeypatch.setattr("payments.views.TOPUPS_PER_PAGE", 2)
    ids = [create(client_profile, amount=f"{n}.00").public_id for n in (11, 12, 13)]
    first, second = html(browser.get("/topups/")), html(browser.get("/topups/?page=2&entries_page=1"))
    assert [str(i) in first for i in ids] == [False, True, True]
    assert [str(i) in second for i in ids] == [True, False, False]
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert browser.get("/topups/?page=abc").status_code == 200
