"""The staff dashboard in a real browser (headless Chromium via Playwright).

A compliance officer logs in (password, then the code of their authenticator app), opens the queue,
opens a case and releases it with a comment; the next case's release is above the four-eyes limit,
so it waits, and a second person, a compliance lead, logs in, finds it in Approvals and approves
it. Screenshots go to ``tests/browser/output/``. Set up as in ``test_review_page.py`` (live server
thread, ``transactional_db``, the ORM connection of Playwright's loop closed at the end).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, expect, sync_playwright

from aml.cases.approval_models import Approval
from aml.cases.models import Case, CaseEvent
from nexora.accounts.models import User
from payments.selectors.ledger import balance_get
from tests.otp import totp_code
from tests.review_helpers import held_deposit, review_case

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).parent / "output"
PASSWORD = "pw-staff-123456"


@pytest.fixture
def browser(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
        connections.close_all()


def staff_with_device(make_staff: Any, role: str) -> tuple[User, TOTPDevice]:
    user = make_staff(role, verified=False)
    user.set_password(PASSWORD)
    user.save()
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


@pytest.fixture
def cases(
    live_server: Any, make_client: Any, make_network: Any, make_staff: Any, settings: Any
) -> dict[str, Any]:
    OUTPUT.mkdir(exist_ok=True)
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal("100")
    network = make_network("usdt-erc20")
    small_client, large_client = make_client(), make_client()
    small_deposit, _ = held_deposit(small_client, network, amount="50.00")
    small = review_case(small_client, small_deposit)
    large_deposit, _ = held_deposit(large_client, network, amount="300.00")
    large = review_case(large_client, large_deposit)
    officer, officer_device = staff_with_device(make_staff, "compliance_officer")
    lead, lead_device = staff_with_device(make_staff, "compliance_lead")
    return {"small": small, "large": large, "officer": (officer, officer_device), "lead": (lead, lead_device)}


def log_in(browser: Browser, live_server: Any, user: User, device: TOTPDevice) -> Page:
    page = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}).new_page()
    page.goto("/staff/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Case queue")).to_be_visible()
    return page


def release(page: Page, case: Case, comment: str) -> None:
    page.locator(f'tr[data-case="{case.pk}"]').get_by_role("link", name=f"#{case.pk}").click()
    expect(page.get_by_role("heading", name=f"Case #{case.pk}")).to_be_visible()
    form = page.locator('form[data-action-form="release"]')
    form.get_by_label("Comment (required)").fill(comment)
    form.get_by_role("button", name="Release").click()


def test_officer_releases_a_case_and_a_large_release_waits_for_a_lead(cases, browser, live_server):
    small, large = cases["small"], cases["large"]
    page = log_in(browser, live_server, *cases["officer"])
    expect(page.get_by_test_id("queue").locator("tbody tr")).to_have_count(2)
    expect(page.locator(f'tr[data-case="{large.pk}"]')).to_contain_text("300.00 USD")
    page.screenshot(path=OUTPUT / "staff_queue.png", full_page=True)

    page.locator(f'tr[data-case="{small.pk}"]').get_by_role("link", name=f"#{small.pk}").click()
    expect(page.get_by_test_id("assessments")).to_contain_text("First deposit of 50.00 USD")
    expect(page.get_by_test_id("volume-chart")).to_be_visible()
    page.screenshot(path=OUTPUT / "staff_case.png", full_page=True)
    page.go_back()
    release(page, small, "Paid from the client's own wallet; checked the explorer.")
    expect(page.get_by_text("The money is released.")).to_be_visible()
    expect(page.get_by_test_id("case-summary")).to_contain_text("Closed")
    small.refresh_from_db()
    assert (small.status, small.resolution) == ("closed", "released")
    assert balance_get(client=small.client).available == Decimal("50.00")
    event = CaseEvent.objects.get(case=small, action="released")
    assert event.comment == "Paid from the client's own wallet; checked the explorer."

    page.get_by_role("link", name="Queue").click()
    release(page, large, "Source checked, above the limit: second approval please.")
    expect(page.get_by_text("It waits for a second, different compliance lead")).to_be_visible()
    expect(page.get_by_test_id("case-approvals")).to_contain_text("release 300.00 USD")
    page.screenshot(path=OUTPUT / "staff_case_pending_approval.png", full_page=True)
    assert balance_get(client=large.client).held == Decimal("300.00")
    page.context.close()

    lead_page = log_in(browser, live_server, *cases["lead"])
    lead_page.get_by_role("link", name="Approvals").click()
    approval = Approval.objects.get(case=large)
    row = lead_page.locator(f'tr[data-approval="{approval.public_id}"]')
    expect(row).to_contain_text("Source checked, above the limit")
    lead_page.screenshot(path=OUTPUT / "staff_approvals.png", full_page=True)
    row.get_by_label("Comment").fill("Agreed: the documents match.")
    row.get_by_role("button", name="Approve").click()
    expect(lead_page.get_by_text(f"Approved and carried out (case #{large.pk}).")).to_be_visible()
    expect(lead_page.get_by_text("No case decision is waiting.")).to_be_visible()
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by_id) == ("approved", cases["lead"][0].pk)
    assert balance_get(client=large.client).available == Decimal("300.00")
    large.refresh_from_db()
    assert large.status == "closed"
    lead_page.context.close()
