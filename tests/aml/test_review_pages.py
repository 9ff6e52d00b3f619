"""The client's review page through Django's test client: access, neutral content, EN/RU/UK, every form.

Each refused form answers 400 with the translated error next to its field and writes nothing.
Invariant 8 is checked on the rendered page: no rule name, score, reason, summary or staff comment.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import date as date_filter
from django.test import Client
from django.utils import timezone

from aml.cases.documents import document_request_create, document_upload
from aml.cases.models import CaseEvent, ClientDocument, ClientStatement
from payments.models import RefundAddress
from tests.review_helpers import OTHER, held_deposit, review_case

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n%%EOF\n"
STAFF_COMMENT = "large first deposit; ask for the source"
SECRETS = ("first_deposit_size", "large first deposit", "threshold", "score", "40.00 USD", STAFF_COMMENT)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def world(make_network, make_client, make_staff, client):
    network, profile = make_network("usdt-erc20"), make_client()
    deposit, _ = held_deposit(profile, network)
    cache.delete(f"refund-address-password:{profile.pk}")  # Redis outlives the test database
    case = review_case(profile, deposit)
    officer = make_staff("compliance_officer")
    client.force_login(profile.user)
    return SimpleNamespace(
        network=network, client=profile, deposit=deposit, case=case, officer=officer, web=client
    )


def ask(world, items):
    return document_request_create(
        case=world.case,
        actor=world.officer,
        items=items,
        due_on=timezone.localdate() + timedelta(days=7),
        comment=STAFF_COMMENT,
    )


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def written():
    return (
        ClientDocument.objects.count(),
        ClientStatement.objects.count(),
        RefundAddress.objects.count(),
        CaseEvent.objects.count(),
    )


def test_access(world, make_client, make_staff):
    anonymous = Client()
    assert anonymous.get("/review/").status_code == 302
    staff = Client()
    staff.force_login(make_staff("compliance_lead"))
    assert staff.get("/review/").status_code == 403
    lonely = Client()
    lonely.force_login(make_client().user)
    page = text(lonely.get("/review/"))
    assert "There is nothing under review on your account." in page
    assert "Your point of view" not in page
    assert world.web.post("/review/statement/").status_code in (302, 400)
    assert world.web.get("/review/statement/").status_code == 405


def test_the_page_is_neutral_and_shows_what_is_asked(world):
    request = ask(world, ["source_of_funds", "identity"])
    response = world.web.get("/review/")
    page = text(response)
    assert response.status_code == 200
    assert "Where the funds come from (for example a bank or exchange statement)" in page
    assert "Proof of identity (passport, ID card or driving licence)" in page
    assert f"Please send it by {date_filter(request.due_on, 'DATE_FORMAT')}." in page
    assert "Top-up of 50.00 USD" in page and "Under review" in page
    assert "You have the right to a review by a person" in page
    for secret in SECRETS:
        assert secret not in page, secret
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


@pytest.mark.parametrize(
    ("language", "heading", "item"),
    [
        (
            "ru",
            "Проверка вашего аккаунта",
            "Откуда поступили средства (например, выписка из банка или биржи)",
        ),
        ("uk", "Перевірка вашого акаунта", "Звідки надійшли кошти (наприклад, виписка з банку або біржі)"),  # noqa: RUF001
    ],
)
def test_russian_and_ukrainian(world, language, heading, item):
    ask(world, ["source_of_funds"])
    world.web.cookies["nexora_lang"] = language
    page = text(world.web.get("/review/"))
    assert heading in page and item in page
    for secret in SECRETS:
        assert secret not in page


def test_upload_through_the_page(world):
    request = ask(world, ["source_of_funds"])
    response = world.web.post(
        f"/review/requests/{request.public_id}/upload/",
        {
            "item": "source_of_funds",
            "file": SimpleUploadedFile("bank.pdf", PDF, content_type="application/pdf"),
        },
    )
    assert response.status_code == 302 and response["Location"] == "/review/"
    document = ClientDocument.objects.get()
    assert (document.original_name, document.client) == ("bank.pdf", world.client)
    html = world.web.get("/review/").content.decode()
    assert "Thank you. Your document was received." in html
    assert f'<a href="/review/documents/{document.public_id}/">bank.pdf</a>' in html


def test_refused_upload_is_a_400_with_the_error_and_nothing_written(world):
    request = ask(world, ["source_of_funds"])
    before = written()
    fake = SimpleUploadedFile("bank.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    response = world.web.post(f"/review/requests/{request.public_id}/upload/", {"file": fake})
    assert response.status_code == 400
    assert "Upload a PDF, PNG or JPEG file." in text(response)
    response = world.web.post(f"/review/requests/{request.public_id}/upload/", {})
    assert response.status_code == 400 and "Choose a file to upload." in text(response)
    world.web.cookies["nexora_lang"] = "ru"
    response = world.web.post(f"/review/requests/{request.public_id}/upload/", {})
    assert "Выберите файл для загрузки." in text(response)
    assert written() == before


def test_another_clients_request_and_document_are_404(world, make_client):
    request = ask(world, ["source_of_funds"])
    upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
    document = document_upload(request=request, client=world.client, file=upload)
    stranger = Client()
    stranger.force_login(make_client().user)
    file = SimpleUploadedFile("b.pdf", PDF, content_type="application/pdf")
    assert stranger.post(f"/review/requests/{request.public_id}/upload/", {"file": file}).status_code == 404
    assert stranger.post("/review/requests/not-a-uuid/upload/", {}).status_code == 404
    assert stranger.get(f"/review/documents/{document.public_id}/").status_code == 404
    assert ClientDocument.objects.count() == 1


def test_documents_are_served_to_the_owner_and_permitted_staff_only(world, make_staff):
    request = ask(world, ["source_of_funds"])
    upload = SimpleUploadedFile("Bank statement.pdf", PDF, content_type="application/pdf")
    document = document_upload(request=request, client=world.client, file=upload)
    url = f"/review/documents/{document.public_id}/"
    response = world.web.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="Bank statement.pdf"'
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not CaseEvent.objects.filter(action="document_viewed").exists()  # the owner's own file
    assert Client().get(url).status_code == 302
    for role, status in [("support", 403), ("treasury", 403), ("compliance_officer", 200), ("admin", 200)]:
        staff = Client()
        user = make_staff(role)
        staff.force_login(user)
        assert staff.get(url).status_code == status, role
        assert CaseEvent.objects.filter(action="document_viewed", actor=user).count() == (status == 200)


def test_statement_and_contest_through_the_page(world):
    response = world.web.post("/review/statement/", {"text": "The money is from my salary."})
    assert response.status_code == 302
    response = world.web.post("/review/statement/", {"text": "I contest this.", "contest": "on"})
    assert response.status_code == 302
    assert list(ClientStatement.objects.order_by("id").values_list("kind", "text")) == [
        ("statement", "The money is from my salary."),
        ("contest", "I contest this."),
    ]
    page = text(world.web.get("/review/"))
    assert "Thank you. A member of our team will review the decision." in page
    assert "The money is from my salary." in page and "contest of the decision" in page
    before = written()
    response = world.web.post("/review/statement/", {"text": "   "})
    assert response.status_code == 400 and "Please write your message." in text(response)
    assert written() == before


def test_refund_address_through_the_page(world):
    ask(world, ["refund_address"])
    page = text(world.web.get("/review/"))
    assert "Your USDT address on USDT (Ethereum, ERC-20)" in page
    request = world.case.document_requests.get()
    url = f"/review/requests/{request.public_id}/refund-address/"
    response = world.web.post(url, {"address": "0xnot"})
    assert response.status_code == 400 and "This is not a valid address for this network." in text(response)
    assert not RefundAddress.objects.exists()
    assert world.web.post(url, {"address": OTHER}).status_code == 302
    given = RefundAddress.objects.get()
    page = text(world.web.get("/review/"))
    assert OTHER in page and "A refund sent to a wrong address cannot be recovered." in page
    confirm = f"/review/refund-address/{given.pk}/confirm/"
    response = world.web.post(confirm, {"password": "wrong"})
    assert response.status_code == 400 and "The password is not correct." in text(response)
    assert world.web.post(confirm, {"password": "pw-123456"}).status_code == 302
    given.refresh_from_db()
    assert given.status == "confirmed"
    page = text(world.web.get("/review/"))
    assert "Thank you. The refund address is confirmed." in page
    assert "Refund address" not in page  # nothing more is asked: the request is fulfilled


def test_csrf_is_enforced_on_every_form(world):
    request = ask(world, ["source_of_funds", "refund_address"])
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.client.user)
    for url in (
        "/review/statement/",
        f"/review/requests/{request.public_id}/upload/",
        f"/review/requests/{request.public_id}/refund-address/",
        "/review/refund-address/1/confirm/",
    ):
        assert strict.post(url, {"text": "x", "address": OTHER}).status_code == 403, url
    assert written()[:3] == (0, 0, 0)


def test_the_top_up_page_links_to_the_review(world):
    topup = world.deposit.topup
    page = world.web.get(f"/topups/{topup.public_id}/").content.decode()
    assert 'href="/review/"' in page and "Send documents or tell us about this payment" in page
