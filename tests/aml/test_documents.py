"""Document requests, uploads, statements and the refund address: services, exact outcomes, refusals.

Files go to a temporary ``MEDIA_ROOT`` per test; every refusal asserts its code and that nothing was
written: no row, no case event, no file on disk.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from aml.cases.document_models import private_media_check, private_storage
from aml.cases.documents import (
    document_request_cancel,
    document_request_create,
    document_requests_mark_overdue,
    document_upload,
    documents_for_case,
    open_requests_for_client,
    refund_address_confirm,
    refund_address_submit,
    statement_submit,
    statements_for_case,
)
from aml.cases.models import CaseEvent, ClientDocument, ClientStatement, DocumentRequest
from aml.cases.services import case_transition
from nexora.common.errors import NexoraError
from nexora.common.models import AppendOnlyError
from payments.models import RefundAddress
from payments.services.payouts import payout_request
from tests.review_helpers import OTHER, SENDER, held_deposit, review_case

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def world(make_network, make_client, make_staff):
    network, client = make_network("usdt-erc20"), make_client()
    deposit, chain = held_deposit(client, network)
    cache.delete(f"refund-address-password:{client.pk}")  # Redis outlives the test database
    return SimpleNamespace(
        network=network,
        client=client,
        deposit=deposit,
        chain=chain,
        case=review_case(client, deposit),
        officer=make_staff("compliance_officer"),
        support=make_staff("support"),
    )


def ask(world, items=("source_of_funds",), days=7, **kwargs):
    return document_request_create(
        case=world.case,
        actor=world.officer,
        items=list(items),
        due_on=timezone.localdate() + timedelta(days=days),
        comment="large first deposit; ask for the source",
        **kwargs,
    )


def pdf(name="statement.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def files_on_disk(media):
    return sorted(p for p in media.rglob("*") if p.is_file())


def state(world):
    world.case.refresh_from_db()
    return (
        DocumentRequest.objects.count(),
        ClientDocument.objects.count(),
        CaseEvent.objects.count(),
        ClientStatement.objects.count(),
        RefundAddress.objects.count(),
        world.case.status,
    )


def refused(world, code, fn, **kwargs):
    before = state(world)
    with pytest.raises(NexoraError) as exc:
        fn(**kwargs)
    assert exc.value.code == code, exc.value.message
    assert state(world) == before
    return exc.value


def actions(case):
    return list(CaseEvent.objects.filter(case=case).order_by("id").values_list("action", flat=True))


# --- requests -----------------------------------------------------------------------------------


def test_request_moves_the_case_to_awaiting_client_and_is_audited(world):
    request = ask(world, items=["source_of_funds", "identity", "source_of_funds"])
    assert (request.items, request.status, request.refund_network) == (
        ["source_of_funds", "identity"],
        "open",
        None,
    )
    world.case.refresh_from_db()
    assert world.case.status == "awaiting_client"
    assert actions(world.case)[-3:] == ["assessment_added", "documents_requested", "status"]
    event = CaseEvent.objects.get(action="documents_requested")
    assert (event.actor, event.comment) == (world.officer, "large first deposit; ask for the source")
    assert event.after == {
        "request": str(request.public_id),
        "items": ["source_of_funds", "identity"],
        "due_on": request.due_on.isoformat(),
    }
    assert list(open_requests_for_client(world.client)) == [request]


def test_request_refusals_write_nothing(world):
    base = {"case": world.case, "actor": world.officer, "comment": "why", "due_on": timezone.localdate()}
    refused(world, "invalid_items", document_request_create, **{**base, "items": []})
    refused(world, "invalid_items", document_request_create, **{**base, "items": ["passport_scan"]})
    refused(world, "invalid_items", document_request_create, **{**base, "items": "identity"})
    refused(
        world,
        "invalid_due_date",
        document_request_create,
        **{**base, "items": ["identity"], "due_on": timezone.localdate() - timedelta(days=1)},
    )
    refused(
        world,
        "invalid_due_date",
        document_request_create,
        **{**base, "items": ["identity"], "due_on": timezone.localdate() + timedelta(days=91)},
    )
    refused(
        world,
        "invalid_due_date",
        document_request_create,
        **{**base, "items": ["identity"], "due_on": "soon"},
    )
    refused(
        world, "comment_required", document_request_create, **{**base, "items": ["identity"], "comment": " "}
    )
    refused(
        world,
        "permission_denied",
        document_request_create,
        **{**base, "items": ["identity"], "actor": world.support},
    )
    case_transition(world.case, to="closed", reason="released", resolution="released")
    refused(world, "case_closed", document_request_create, **{**base, "items": ["identity"]})


def test_refund_address_request_takes_the_case_network_or_asks_for_one(world, make_network):
    request = ask(world, items=["refund_address"])
    assert request.refund_network == world.network
    other = make_network("usdt-trc20")
    trc_deposit, _ = held_deposit(world.client, other, sender="TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH")
    review_case(world.client, trc_deposit)  # joins the open case: now two networks
    refused(world, "refund_network_required", lambda: ask(world, items=["refund_address"]))
    assert ask(world, items=["refund_address"], refund_network=other).refund_network == other


def test_cancel_and_overdue(world):
    first, second = ask(world, items=["identity"], days=1), ask(world, items=["payment_purpose"], days=1)
    ask(world, items=["company"], days=3)  # not due yet
    assert document_requests_mark_overdue(today=timezone.localdate() + timedelta(days=2)) == 2
    assert document_requests_mark_overdue(today=timezone.localdate() + timedelta(days=2)) == 0
    first.refresh_from_db()
    assert first.status == "overdue"
    document_request_cancel(request=first, actor=world.officer, comment="not needed any more")
    document_upload(request=second, client=world.client, file=pdf())  # late, still accepted
    second.refresh_from_db()
    world.case.refresh_from_db()
    assert (first.status, second.status, world.case.status) == ("cancelled", "fulfilled", "awaiting_client")
    assert actions(world.case).count("documents_overdue") == 2


# --- uploads --------------------------------------------------------------------------------------


def test_upload_is_stored_privately_under_a_random_name_and_fulfils(world, media):
    request = ask(world, items=["source_of_funds"])
    document = document_upload(request=request, client=world.client, file=pdf("Bank statement <Q3>.pdf"))
    stored = files_on_disk(media)
    assert len(stored) == 1 and stored[0].read_bytes() == PDF
    relative = stored[0].relative_to(media).as_posix()
    assert re.fullmatch(r"client-documents/\d{4}/\d{2}/[0-9a-f]{32}\.pdf", relative), relative
    assert (document.file.name, document.original_name, document.content_type, document.size) == (
        relative,
        "Bank statement <Q3>.pdf",
        "application/pdf",
        len(PDF),
    )
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    with pytest.raises(NotImplementedError):
        document.file.url  # noqa: B018 - private: no URL at all
    event = CaseEvent.objects.get(action="document_uploaded")
    assert (event.actor, event.after["sha256"], event.after["item"]) == (
        world.client.user,
        document.sha256,
        "source_of_funds",
    )
    request.refresh_from_db()
    world.case.refresh_from_db()
    assert (request.status, world.case.status) == ("fulfilled", "open")  # back in the reviewer's queue
    assert actions(world.case)[-3:] == ["document_uploaded", "documents_received", "status"]
    assert list(documents_for_case(world.case)) == [document]


def test_each_item_needs_an_answer_before_the_request_is_fulfilled(world):
    request = ask(world, items=["identity", "source_of_funds"])
    refused(world, "invalid_item", document_upload, request=request, client=world.client, file=pdf())
    png = SimpleUploadedFile("id.png", PNG, content_type="image/png")
    document_upload(request=request, client=world.client, file=png, item="identity")
    request.refresh_from_db()
    assert request.status == "open"
    document_upload(request=request, client=world.client, file=pdf(), item="source_of_funds")
    request.refresh_from_db()
    assert request.status == "fulfilled"
    assert list(request.documents.values_list("content_type", flat=True)) == ["image/png", "application/pdf"]


def test_upload_refusals_leave_no_row_and_no_file(world, media, settings, make_client):
    request = ask(world)
    kw = {"request": request, "client": world.client}
    refused(world, "file_required", document_upload, **kw, file=None)
    refused(world, "file_empty", document_upload, **kw, file=pdf(content=b""))
    html = SimpleUploadedFile(
        "invoice.pdf", b"<html><script>alert(1)</script>", content_type="application/pdf"
    )
    refused(world, "file_type_not_allowed", document_upload, **kw, file=html)
    settings.NEXORA_DOCUMENT_MAX_BYTES = len(PDF) - 1
    refused(world, "file_too_large", document_upload, **kw, file=pdf())
    settings.NEXORA_DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
    refused(world, "not_found", document_upload, request=request, client=make_client(), file=pdf())
    settings.NEXORA_DOCUMENTS_PER_REQUEST = 0
    refused(world, "too_many_documents", document_upload, **kw, file=pdf())
    settings.NEXORA_DOCUMENTS_PER_REQUEST = 20
    document_request_cancel(request=request, actor=world.officer, comment="done otherwise")
    refused(world, "request_closed", document_upload, **kw, file=pdf())
    assert files_on_disk(media) == []


def test_a_failure_after_the_file_was_written_removes_it(world, media, monkeypatch):
    import aml.cases.documents as documents

    request = ask(world)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(documents, "case_event_add", broken)
    with pytest.raises(RuntimeError):
        document_upload(request=request, client=world.client, file=pdf())
    assert ClientDocument.objects.count() == 0
    assert files_on_disk(media) == []


# --- statements -----------------------------------------------------------------------------------


def test_statements_land_in_the_case_trail(world):
    first = statement_submit(client=world.client, text="  I sold my car; the money is from the sale.  ")
    contest = statement_submit(
        client=world.client, text="I disagree and want a person to look.", kind="contest"
    )
    assert (first.case, first.kind, first.text, first.language) == (
        world.case,
        "statement",
        "I sold my car; the money is from the sale.",
        "en",
    )
    events = CaseEvent.objects.filter(action__in=["client_statement", "client_contest"]).order_by("id")
    assert [(e.action, e.actor, e.comment, e.after) for e in events] == [
        ("client_statement", world.client.user, first.text, {"statement": first.pk, "kind": "statement"}),
        ("client_contest", world.client.user, contest.text, {"statement": contest.pk, "kind": "contest"}),
    ]
    assert list(statements_for_case(world.case)) == [first, contest]
    with pytest.raises(AppendOnlyError):
        first.save()


def test_statement_refusals(world, make_client):
    refused(world, "statement_empty", statement_submit, client=world.client, text="   ")
    refused(world, "text_too_long", statement_submit, client=world.client, text="x" * 5001)
    refused(world, "invalid_kind", statement_submit, client=world.client, text="hi", kind="appeal")
    refused(world, "no_review", statement_submit, client=make_client(), text="hello")
    refused(world, "no_review", statement_submit, client=make_client(), text="hello", case=world.case)


def test_a_closed_decision_can_still_be_contested(world):
    case_transition(world.case, to="closed", reason="refund to source", resolution="refunded")
    statement = statement_submit(client=world.client, text="This was my own money.", kind="contest")
    assert statement.case == world.case
    assert actions(world.case)[-1] == "client_contest"


@pytest.mark.postgres
def test_statements_are_append_only_in_postgres(world):
    statement = statement_submit(client=world.client, text="original words")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cases_clientstatement SET text = 'edited' WHERE id = %s", [statement.pk])
    statement.refresh_from_db()
    assert statement.text == "original words"


# --- refund address -------------------------------------------------------------------------------


def test_refund_address_is_given_then_confirmed_with_the_password(world, settings, make_staff):
    request = ask(world, items=["refund_address"])
    refused(
        world, "invalid_address", refund_address_submit, client=world.client, case=world.case, address="0x12"
    )
    given = refund_address_submit(client=world.client, case=world.case, address=OTHER.lower())
    assert (given.address, given.status, given.network, given.reference) == (
        OTHER,
        "submitted",
        world.network,
        f"case:{world.case.pk}",
    )
    refused(
        world,
        "wrong_password",
        refund_address_confirm,
        client=world.client,
        refund_address=given,
        password="guess",
    )
    confirmed = refund_address_confirm(client=world.client, refund_address=given, password="pw-123456")
    assert confirmed.status == "confirmed" and confirmed.confirmed_at is not None
    request.refresh_from_db()
    world.case.refresh_from_db()
    assert (request.status, world.case.status) == ("fulfilled", "open")
    trail = [a for a in actions(world.case) if a.startswith("refund_address") or a == "documents_received"]
    assert trail == ["refund_address_given", "refund_address_confirmed", "documents_received"]
    settings.NEXORA_EXCHANGE_ADDRESSES = [SENDER]  # the source was an exchange: only the confirmed address
    payout = payout_request(
        client=world.client,
        hold=world.deposit.hold,
        amount="50.00",
        destination=OTHER,
        network=world.network,
        reason="refund",
        actor=make_staff("compliance_officer"),
    )
    assert (payout.destination_kind, payout.refund_address) == ("client_address", confirmed)


def test_refund_address_refusals(world, make_client):
    refused(
        world,
        "refund_address_not_requested",
        refund_address_submit,
        client=world.client,
        case=world.case,
        address=OTHER,
    )
    ask(world, items=["refund_address"])
    refused(world, "not_found", refund_address_submit, client=make_client(), case=world.case, address=OTHER)
    own = world.deposit.address.address
    refused(world, "own_address", refund_address_submit, client=world.client, case=world.case, address=own)
    given = refund_address_submit(client=world.client, case=world.case, address=OTHER)
    stranger = make_client()
    refused(
        world,
        "not_found",
        refund_address_confirm,
        client=stranger,
        refund_address=given,
        password="pw-123456",
    )


# --- storage configuration ------------------------------------------------------------------------


def test_private_storage_has_no_url_and_the_check_refuses_static_overlap(settings, tmp_path):
    with pytest.raises(NotImplementedError):
        private_storage().url("client-documents/x.pdf")
    assert private_media_check() == []
    settings.STATIC_ROOT = str(tmp_path / "public")
    settings.MEDIA_ROOT = str(tmp_path / "public" / "media")
    errors = private_media_check()
    assert [e.id for e in errors] == ["cases.E001"]


def test_five_wrong_passwords_lock_the_confirmation_for_an_hour(world):
    ask(world, items=["refund_address"])
    given = refund_address_submit(client=world.client, case=world.case, address=OTHER)
    for _ in range(5):
        refused(
            world,
            "wrong_password",
            refund_address_confirm,
            client=world.client,
            refund_address=given,
            password="guess",
        )
    refused(
        world,
        "too_many_attempts",
        refund_address_confirm,
        client=world.client,
        refund_address=given,
        password="pw-123456",
    )
    cache.delete(f"refund-address-password:{world.client.pk}")
    assert refund_address_confirm(client=world.client, refund_address=given, password="pw-123456").status == (
        "confirmed"
    )
