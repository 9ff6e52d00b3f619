"""The top-up flow in a real browser: headless Chromium (Debian's) driven by Playwright.

One client logs in through the login form, creates a top-up through the form and checks what a
payer relies on: the address, the QR code, the countdown ticking, the copy button (clipboard and
the visible "Copied"), the status changing without a reload when a payment is seen on the (in-memory)
chain, the language switcher (RU, UK) and the dark theme; a second context checks the page without
JavaScript. Screenshots go to ``tests/browser/output/`` for a human look.

The live server runs in a thread against the test database (``transactional_db``: both sides see
committed rows). Playwright's sync API runs an event loop in this thread, so the ORM calls the test
makes itself are allowed with ``DJANGO_ALLOW_ASYNC_UNSAFE`` (they are plain synchronous calls). Inside
that loop asgiref gives the ORM a connection of its own; it is closed before the loop stops, or
PostgreSQL could not drop the test database at the end of the session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

from payments.models import TopUp
from payments.services.deposits import deposit_observe
from tests.payments.memory_chain import memory_chain

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).parent / "output"
TRON_ADDRESS = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"  # m/44'/195'/0'/0/0 of "abandon ... about"


@pytest.fixture
def browser(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """Per test, set up after the database so it stops before the database is flushed."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
        connections.close_all()  # the ORM's connection opened while Playwright's loop ran (see above)


@pytest.fixture
def setup(live_server: Any, make_client: Any, make_network: Any) -> Any:
    OUTPUT.mkdir(exist_ok=True)
    make_network("usdt-trc20")
    make_network("usdt-erc20")
    make_network("eth")
    return make_client(balance="100.00")


def new_page(browser: Browser, live_server: Any, **options: Any) -> Page:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1100, "height": 900}, locale="en-US", **options
    )
    if options.get("java_script_enabled", True):
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    return context.new_page()


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-123456")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def create_topup(page: Page, screenshot: str = "") -> TopUp:
    page.get_by_role("link", name="Top up", exact=True).first.click()
    expect(page.get_by_role("heading", name="Top up your balance")).to_be_visible()
    page.get_by_label(re.compile(r"USDT \(TRON, TRC-20\)")).check()
    page.get_by_label("Amount in USD").fill("25")
    if screenshot:
        page.screenshot(path=OUTPUT / screenshot, full_page=True)
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(re.compile(r"/topups/[0-9a-f-]{36}/$"))
    return TopUp.objects.get(public_id=page.url.rstrip("/").rsplit("/", 1)[1])


def pay(topup: TopUp) -> None:
    """A 25 USDT transfer to the top-up's address, one block deep: the page should say 'seen'."""
    chain = memory_chain(topup.network)
    transfer = chain.pay(topup.address.address, 25 * 10**6)
    chain.mine()
    deposit_observe(network=topup.network, transfer=chain.blocks[-1][1][0], head=chain.head())
    assert transfer.recipient == TRON_ADDRESS


def switch_language(page: Page, code: str) -> None:
    with page.expect_navigation():
        page.select_option("#lang-select", code)


def test_topup_flow_in_chromium(setup: Any, browser: Browser, live_server: Any) -> None:
    page = new_page(browser, live_server, color_scheme="light")
    log_in(page, setup.user.username)
    topup = create_topup(page, screenshot="new_topup_en.png")

    expect(page.get_by_test_id("address")).to_have_text(TRON_ADDRESS)
    expect(page.get_by_test_id("crypto-amount")).to_have_text("25USDT")
    expect(page.locator(".qr-frame svg.qr")).to_be_visible()
    expect(
        page.get_by_text("Send only USDT on the USDT (TRON, TRC-20) network to this address.")
    ).to_be_visible()
    expect(page.locator("[data-live=title]")).to_have_text("Waiting for your payment")

    countdown = page.locator("[data-countdown]")
    expect(countdown).to_have_text(re.compile(r"^(29:5\d|30:00)$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=2000)

    copy_amount = page.get_by_role("button", name="Copy the amount")
    copy_amount.click()
    expect(copy_amount).to_have_text("✓ Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "25"
    page.get_by_role("button", name="Copy the address").click()
    assert page.evaluate("navigator.clipboard.readText()") == TRON_ADDRESS
    page.screenshot(path=OUTPUT / "topup_en.png", full_page=True)

    pay(topup)  # the page polls every 5 s: the status changes without a reload
    expect(page.locator("[data-live=title]")).to_have_text(
        "Payment seen, waiting for confirmations", timeout=8000
    )
    expect(page.locator("[data-live=paid]")).to_have_text("25")
    expect(page.locator("[data-live=deposits] tr")).to_have_count(1)
    expect(page.locator(".status-card")).to_have_attribute("data-tone", "progress")

    switch_language(page, "ru")
    expect(page.locator("h1")).to_have_text("Пополнение на 25,00 USD")
    expect(page.locator("[data-live=title]")).to_have_text("Платёж обнаружен, ждём подтверждений сети")
    page.screenshot(path=OUTPUT / "topup_ru.png", full_page=True)

    switch_language(page, "uk")
    expect(page.locator("h1")).to_have_text("Поповнення на 25,00 USD")
    expect(page.get_by_role("heading", name="Реквізити для оплати")).to_be_visible()
    page.screenshot(path=OUTPUT / "topup_uk.png", full_page=True)
    page.get_by_role("link", name="Поповнити").click()
    expect(page.get_by_role("heading", name="Поповнення балансу")).to_be_visible()
    page.screenshot(path=OUTPUT / "new_topup_uk.png", full_page=True)
    page.go_back()

    switch_language(page, "en")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="Top-ups")).to_be_visible()
    expect(page.locator("tbody tr").first).to_contain_text("Payment seen, waiting for confirmations")
    page.screenshot(path=OUTPUT / "history_en.png", full_page=True)
    page.go_back()
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.reload()  # the choice is remembered
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(14, 17, 22)"
    page.screenshot(path=OUTPUT / "topup_dark.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=OUTPUT / "topup_mobile_dark.png", full_page=True)
    page.context.close()


def test_topup_page_without_javascript(setup: Any, browser: Browser, live_server: Any) -> None:
    page = new_page(browser, live_server, java_script_enabled=False, color_scheme="dark")
    log_in(page, setup.user.username)
    topup = create_topup(page)
    expect(page.get_by_test_id("address")).to_have_text(TRON_ADDRESS)
    expect(page.get_by_role("button", name="Copy the address")).to_be_hidden()
    expect(page.locator("[data-countdown]")).to_be_hidden()
    expect(page.get_by_text("Rate locked until")).to_be_visible()
    page.get_by_text("Already paid? Tell us the transaction hash").click()
    page.get_by_label("Transaction hash (TXID)").fill("not-a-hash")
    page.get_by_role("button", name="Look it up").click()
    expect(page.get_by_role("alert")).to_have_text("This is not a valid transaction hash for this network.")
    assert not topup.tx_lookups.exists()
    page.screenshot(path=OUTPUT / "topup_nojs_dark.png", full_page=True)
    page.context.close()
