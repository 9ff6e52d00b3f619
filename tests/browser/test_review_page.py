"""The client's side of a review in a real browser (headless Chromium via Playwright).

A client whose top-up is held logs in, sees "Under review" on the top-up page, follows the link to
the review page, uploads the requested document (a real file through the file input), and writes a
statement contesting the decision; the page is also checked in Russian and on a phone-sized screen.
Screenshots go to ``tests/browser/output/``. Set up as in ``test_topup_page.py`` (live server thread,
``transactional_db``, the ORM connection of Playwright's loop closed at the end).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Browser, expect, sync_playwright

from aml.cases.documents import document_request_create
from aml.cases.models import CaseEvent, ClientDocument, ClientStatement
from tests.review_helpers import held_deposit, review_case

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).parent / "output"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def browser(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def held_case(
    live_server: Any, make_client: Any, make_network: Any, make_staff: Any, settings: Any, tmp_path: Path
):
    OUTPUT.mkdir(exist_ok=True)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    network, client = make_network("usdt-erc20"), make_client()
    deposit, _ = held_deposit(client, network)
    case = review_case(client, deposit)
    document_request_create(
        case=case,
        actor=make_staff("compliance_officer"),
        items=["source_of_funds"],
        due_on=timezone.localdate() + timedelta(days=7),
        comment="ask for the source",
    )
    return client, deposit


def test_client_uploads_a_document_and_contests_the_decision(held_case, browser, live_server, tmp_path):
    client, deposit = held_case
    page = browser.new_context(base_url=live_server.url, viewport={"width": 1100, "height": 900}).new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(client.user.username)
    page.get_by_label("Password").fill("pw-123456")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.goto(f"/topups/{deposit.topup.public_id}/")
    expect(page.locator("[data-live=title]")).to_have_text("Under review")
    page.screenshot(path=OUTPUT / "review_topup_under_review.png", full_page=True)
    page.get_by_role("link", name="Send documents or tell us about this payment").click()
    expect(page.get_by_role("heading", name="Review of your account")).to_be_visible()
    expect(
        page.get_by_text("Where the funds come from (for example a bank or exchange statement)").first
    ).to_be_visible()
    expect(page.get_by_text("ask for the source")).to_have_count(0)  # the staff's comment never shows
    page.screenshot(path=OUTPUT / "review_page_en.png", full_page=True)

    proof = tmp_path / "Bank statement.pdf"
    proof.write_bytes(PDF)
    page.get_by_label("File").set_input_files(str(proof))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Thank you. Your document was received.")).to_be_visible()
    expect(page.get_by_test_id("documents")).to_contain_text("Bank statement.pdf")
    document = ClientDocument.objects.get()
    assert (document.sha256, document.size) == (hashlib.sha256(PDF).hexdigest(), len(PDF))

    page.get_by_label("Your message").fill("The money is from the sale of my car; I can send the contract.")
    page.get_by_label("I contest the decision and ask for it to be reviewed by a person").check()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Thank you. A member of our team will review the decision.")).to_be_visible()
    expect(page.get_by_test_id("statements")).to_contain_text("sale of my car")
    page.screenshot(path=OUTPUT / "review_page_after_en.png", full_page=True)
    statement = ClientStatement.objects.get()
    assert (statement.kind, statement.case_id) == ("contest", document.case_id)
    assert CaseEvent.objects.filter(action="client_contest", actor=client.user).count() == 1

    with page.expect_download() as download:
        page.get_by_role("link", name="Bank statement.pdf").click()
    assert Path(download.value.path()).read_bytes() == PDF

    with page.expect_navigation():
        page.select_option("#lang-select", "ru")
    expect(page.get_by_role("heading", name="Проверка вашего аккаунта")).to_be_visible()
    page.screenshot(path=OUTPUT / "review_page_ru.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=OUTPUT / "review_page_mobile_ru.png", full_page=True)
    page.context.close()
