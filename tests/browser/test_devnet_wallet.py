"""The "Pay from the devnet wallet" button in a real browser (headless Chromium) against a real anvil: the
client presses the button, the page says what was sent, and, as the scanner records the payment
and its confirmations, the status changes by itself from waiting to confirming to completed; the
box then goes away. The scanner passes run in the test (the demo runs them in its own thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from payments.chains.registry import adapter_for
from payments.models import Network
from payments.scanner import scan_network_once
from payments.services.devnet import devnet_networks_load
from payments.services.networks import network_spec
from payments.services.topups import topup_create
from tests.browser import test_topup_page
from tests.browser.test_topup_page import OUTPUT, log_in, new_page
from tests.chain.anvil import Anvil

pytestmark = [pytest.mark.browser, pytest.mark.anvil]
POLL_TIMEOUT_MS = 8000  # the page polls every 5 s
browser = test_topup_page.browser  # the same Chromium fixture


@pytest.fixture
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


def scan(network: Network) -> None:
    scan_network_once(network=network, adapter=adapter_for(network_spec(network)))


def test_the_devnet_wallet_pays_and_the_page_follows_the_payment(
    browser: Browser, live_server: Any, chain: Anvil, make_client: Any
) -> None:
    devnet_networks_load(node_url=chain.url)
    network = Network.objects.get(code="eth-devnet")
    client = make_client()
    scan(network)  # the cursor starts before the payment
    topup = topup_create(client=client, network_code="eth-devnet", amount="30.00").topup
    page = new_page(browser, live_server, color_scheme="light")
    log_in(page, client.user.username)
    page.goto(f"/topups/{topup.public_id}/")
    title = page.locator("[data-live=title]")
    expect(title).to_have_text("Waiting for your payment")

    page.get_by_role("button", name="Pay from the devnet wallet").click()
    expect(page.get_by_role("status")).to_contain_text("Sent 0.01 ETH from the devnet wallet (transaction 0x")
    assert chain.eth_balance(topup.address.address) == 10**16

    scan(network)
    expect(title).to_have_text("Payment seen, waiting for confirmations", timeout=POLL_TIMEOUT_MS)
    expect(page.locator("[data-live=confirmations]")).to_have_text("1")
    page.screenshot(path=OUTPUT / "devnet_confirming_en.png", full_page=True)
    chain.mine(network.confirmations)
    scan(network)
    expect(title).to_have_text("Completed", timeout=POLL_TIMEOUT_MS)
    expect(page.locator("[data-live=credited]")).to_have_text("30.00")
    expect(page.get_by_test_id("devnet-wallet")).to_be_hidden()
    page.screenshot(path=OUTPUT / "devnet_completed_en.png", full_page=True)
    page.context.close()
