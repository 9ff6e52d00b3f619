"""The inbox and the settings page in headless Chromium: header count, mark read, Telegram link, dark theme.

Screenshots go to ``tests/browser/output/`` (git-ignored) for a human look. The set-up follows
``tests/browser/test_topup_page.py``: a live server on the committed test database, Playwright's
sync API, and the ORM connection opened inside Playwright's loop closed before the database goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

from aml.notifications.models import Notification, TelegramLinkCode, link_code_hash
from aml.notifications.services import notification_send
from tests.notifications.conftest import BOT_USERNAME

pytestmark = pytest.mark.browser
OUTPUT = Path(__file__).parents[1] / "browser" / "output"


@pytest.fixture
def browser(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield browser
        browser.close()
        connections.close_all()


def page_for(browser: Browser, live_server: Any) -> Page:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1100, "height": 800}, locale="en-US"
    )
    return context.new_page()


def test_inbox_and_settings_in_a_browser(browser, live_server, make_subscriber, bot):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    client = make_subscriber(email="olena@example.com")
    topup = "8f6b2c1e-4a1d-4c3b-9a57-1f2e3d4c5b6a"
    notification_send(
        client=client,
        event="topup_seen",
        dedupe_key="deposit:1",
        params={"amount": "25", "asset": "USDT", "network": "USDT (TRON, TRC-20)", "topup": topup},
    )
    notification_send(client=client, event="under_review", params={"topup": topup}, dedupe_key="deposit:1")
    notification_send(client=client, event="documents_requested", params={"due_date": "2026-05-01"},
                      dedupe_key="case:1:documents")  # fmt: skip
    page = page_for(browser, live_server)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(client.user.username)
    page.get_by_label("Password").fill("pw-123456")
    page.get_by_role("button", name="Log in").click()

    nav = page.get_by_role("navigation", name="Client area").get_by_role("link", name="Notifications")
    expect(nav).to_contain_text("3")
    nav.click()
    expect(page.get_by_role("heading", name="We need some documents from you")).to_be_visible()
    expect(page.locator(".inbox-item").first.locator("dd")).to_have_text("May 1, 2026")
    page.screenshot(path=OUTPUT / "notifications_en.png", full_page=True)

    page.locator(".inbox-item").first.get_by_role("button", name="Mark as read").click()
    expect(nav).to_contain_text("2")
    assert Notification.objects.filter(read_at__isnull=False).count() == 1
    page.locator("#theme-toggle").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    badge = page.locator(".nav-count")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(127, 157, 255)"  # dark accent
    page.screenshot(path=OUTPUT / "notifications_dark.png", full_page=True)

    page.get_by_role("button", name="Mark all as read").click()
    expect(page.get_by_text("All notifications are marked as read.")).to_be_visible()
    expect(page.locator(".nav-count")).to_have_count(0)

    page.get_by_role("link", name="Notification settings").click()
    page.get_by_role("button", name="Link Telegram").click()
    code = page.locator("#link-code").inner_text().removeprefix("/start ")
    link = page.get_by_role("link", name=f"Open @{BOT_USERNAME} in Telegram")
    expect(link).to_have_attribute("href", f"https://t.me/{BOT_USERNAME}?start={code}")
    assert TelegramLinkCode.objects.get(client=client).code_hash == link_code_hash(code)
    page.screenshot(path=OUTPUT / "notification_settings_code_dark.png", full_page=True)
    page.select_option("#lang-select", "uk")
    expect(page.get_by_role("heading", name="Налаштування сповіщень")).to_be_visible()
    page.screenshot(path=OUTPUT / "notification_settings_uk_dark.png", full_page=True)
