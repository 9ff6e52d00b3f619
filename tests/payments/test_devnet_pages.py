"""The top-up page's "Pay from the devnet wallet" box and its POST, through Django's test client.

The box shows only on an open top-up of a testnet network while ``NEXORA_DEVNET_WALLET`` is on, in
EN/RU/UK; the POST needs the CSRF token, is the client's own top-up or a 404, and a refusal is the
page again with the translated reason and HTTP 400 (503 when the chain is down), nothing sent. The
success path runs on a real anvil.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client

from payments.models import Network, TopUp
from payments.services.devnet import devnet_networks_load
from payments.services.topups import topup_create, topups_expire_due
from tests.chain.anvil import Anvil, free_port

pytestmark = pytest.mark.django_db
BUTTON = "Pay from the devnet wallet"


@pytest.fixture
def browser(client, client_profile):
    client.force_login(client_profile.user)
    return client


@pytest.fixture
def down_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


@pytest.fixture
def devnet(down_url: str) -> dict[str, Network]:
    return {n.code: n for n in devnet_networks_load(node_url=down_url)}


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def eth_topup(client_profile, network="eth-devnet") -> TopUp:
    return topup_create(client=client_profile, network_code=network, amount="30.00").topup


def test_the_box_shows_on_an_open_devnet_top_up(browser, client_profile, devnet):
    topup = eth_topup(client_profile)
    page = browser.get(f"/topups/{topup.public_id}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f'action="/topups/{topup.public_id}/devnet-pay/"' in body
    assert 'name="csrfmiddlewaretoken"' in body.split('data-testid="devnet-wallet"')[1]
    assert (
        "This top-up is on the local test network. Its funded development account can pay it for you, as a "
        "wallet would: 0.01 ETH to the address above." in text(page)
    )
    assert BUTTON in text(page)


@pytest.mark.parametrize(
    ("lang", "button", "title"),
    [
        ("ru", "Оплатить из кошелька devnet", "Тестовый платёж"),
        ("uk", "Сплатити з гаманця devnet", "Тестовий платіж"),
    ],
)
def test_the_box_is_translated(browser, client_profile, devnet, lang, button, title):
    topup = eth_topup(client_profile)
    browser.cookies["nexora_lang"] = lang
    page = text(browser.get(f"/topups/{topup.public_id}/"))
    assert button in page and title in page and BUTTON not in page


def test_no_box_on_a_real_network_when_switched_off_or_closed(
    browser, client_profile, devnet, make_network, settings
):
    make_network("usdt-erc20")
    real = topup_create(client=client_profile, network_code="usdt-erc20", amount="30.00").topup
    assert BUTTON not in text(browser.get(f"/topups/{real.public_id}/"))
    topup = eth_topup(client_profile)
    settings.NEXORA_DEVNET_WALLET = False
    assert BUTTON not in text(browser.get(f"/topups/{topup.public_id}/"))
    settings.NEXORA_DEVNET_WALLET = True
    assert topups_expire_due(now=topup.expires_at + timedelta(seconds=1)) == 2  # closed: nothing to pay
    assert BUTTON not in text(browser.get(f"/topups/{topup.public_id}/"))


def test_refusals_render_the_page_with_the_translated_reason(
    browser, client_profile, devnet, make_network, settings
):
    topup = eth_topup(client_profile)
    down = browser.post(f"/topups/{topup.public_id}/devnet-pay/")
    assert down.status_code == 503
    assert "The local test chain does not answer. Is the demo (make run) still running?" in text(down)
    assert BUTTON in text(down)  # still offered: the chain may be back in a moment
    settings.NEXORA_DEVNET_WALLET = False
    off = browser.post(f"/topups/{topup.public_id}/devnet-pay/")
    assert off.status_code == 400
    assert "Payments from the devnet wallet are switched off here." in text(off)
    assert BUTTON not in text(off)
    settings.NEXORA_DEVNET_WALLET = True
    make_network("usdt-erc20")
    real = topup_create(client=client_profile, network_code="usdt-erc20", amount="30.00").topup
    browser.cookies["nexora_lang"] = "uk"
    refused = browser.post(f"/topups/{real.public_id}/devnet-pay/")
    assert refused.status_code == 400
    assert "Ця мережа не локальна тестова: сплатити можна лише зі справжнього гаманця." in text(refused)
    assert "Сплатити з гаманця devnet" not in text(refused)
    assert TopUp.objects.get(pk=real.pk).deposits.count() == 0


def test_the_post_needs_the_csrf_token(client_profile, devnet):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(client_profile.user)
    topup = eth_topup(client_profile)
    assert strict.post(f"/topups/{topup.public_id}/devnet-pay/").status_code == 403
    assert strict.get(f"/topups/{topup.public_id}/devnet-pay/").status_code == 405


@pytest.fixture
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.mark.anvil
def test_another_clients_top_up_is_a_404_and_nothing_is_sent(browser, make_client, chain):
    devnet_networks_load(node_url=chain.url)
    other = eth_topup(make_client())
    assert browser.post(f"/topups/{other.public_id}/devnet-pay/").status_code == 404
    assert browser.post("/topups/not-a-uuid/devnet-pay/").status_code == 404
    assert chain.nonce(chain.accounts[0]) == 0
    assert chain.eth_balance(other.address.address) == 0


@pytest.mark.anvil
def test_the_button_pays_the_quote_and_says_so(browser, client_profile, chain):
    devnet_networks_load(node_url=chain.url)
    topup = eth_topup(client_profile)
    response = browser.post(f"/topups/{topup.public_id}/devnet-pay/", follow=True)
    assert response.redirect_chain == [(f"/topups/{topup.public_id}/", 302)]
    assert chain.eth_balance(topup.address.address) == topup.crypto_amount == 10**16
    assert chain.nonce(chain.accounts[0]) == 1
    page = text(response)
    sent = r"Sent 0\.01 ETH from the devnet wallet \(transaction 0x[0-9a-f]{10}…\)\. "
    assert re.search(sent + r"The status below changes as the chain confirms it\.", page)
