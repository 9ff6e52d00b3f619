"""Retention, the client's copy and erasure for what the AML, notification and refund parts keep.

On PostgreSQL, with exact counts per category: a review's documents, statements and requests live
exactly five years after the case closes (never while it is open, and the database refuses an
early deletion even from the purge); assessments, rule outcomes, cases and their events are never
deleted; notifications and their delivery log go after twelve months; refunds and refund addresses
lose their addresses five years after they end. The client's copy has what they were shown and
never an AML internal; the erasure summary never names one either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from aml.cases.documents import document_request_create, document_upload, statement_submit
from aml.cases.models import Case, CaseEvent, ClientDocument, ClientStatement, DocumentRequest
from aml.cases.services import case_transition
from aml.models import Assessment, RuleOutcome, RuleSet
from aml.notifications.models import Notification, NotificationDelivery, TelegramLinkCode, link_code_hash
from aml.notifications.services import notification_send
from nexora.accounts.models import ClientProfile, User
from nexora.accounts.services import account_terminate
from nexora.privacy import registry
from nexora.privacy.exports import export_build
from nexora.privacy.registry import category_register
from nexora.privacy.retention import months_after, retention_purge
from nexora.privacy.services.erasure import (
    erasure_blockers,
    erasure_execute,
    erasure_preview,
    erasure_request_create,
)
from payments.models import Deposit, Network, PayoutRequest, RefundAddress
from payments.services.charges import charge_create
from payments.services.payouts import (
    payout_reject,
    payout_request,
    refund_address_activate,
    refund_address_record,
)
from tests.review_helpers import OTHER, SENDER, held_deposit, review_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
STAFF_COMMENT = "large first deposit from a fresh wallet; ask for the source"
REFUND_REASON = "rejected after review: refund to source"
REVIEW_RECORDS = ("aml.documents", "aml.statements", "aml.document_requests")
AML_INTERNALS = {"aml.assessments", "aml.rule_outcomes", "aml.case_events", "aml.cases"}
THIRD = "0x3333333333333333333333333333333333333333"


def by_name(outcomes):
    return {o.name: (o.expired, o.acted, o.waiting, o.within) for o in outcomes}


def later(months: int, moment: datetime | None = None) -> datetime:
    return months_after(moment or timezone.now(), months)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def files_on_disk(media) -> list:
    return sorted(p for p in media.rglob("*") if p.is_file())


@dataclass
class Reviewed:
    client: ClientProfile
    network: Network
    deposit: Deposit
    case: Case
    request: DocumentRequest
    document: ClientDocument
    statement: ClientStatement
    officer: User


@pytest.fixture
def reviewed(make_network, make_client, make_staff) -> Reviewed:
    """A held deposit, its case, a document request answered with a PDF, and the client's statement."""
    network, client = make_network("usdt-erc20"), make_client()
    deposit, _ = held_deposit(client, network)
    case = review_case(client, deposit)
    officer = make_staff("compliance_officer")
    request = document_request_create(
        case=case, actor=officer, items=["source_of_funds"], due_on=timezone.localdate() + timedelta(days=7),
        comment=STAFF_COMMENT,
    )  # fmt: skip
    upload = SimpleUploadedFile("payslip.pdf", PDF, content_type="application/pdf")
    document = document_upload(request=request, client=client, file=upload)
    statement = statement_submit(client=client, text="It is my salary.")
    return Reviewed(client, network, deposit, case, request, document, statement, officer)


def close(case: Case) -> Case:
    case = Case.objects.get(pk=case.pk)
    return case_transition(case, to="closed", reason="released after review", resolution="released")


def aml_rows() -> dict[str, int]:
    return {
        "documents": ClientDocument.objects.count(),
        "statements": ClientStatement.objects.count(),
        "requests": DocumentRequest.objects.count(),
        "cases": Case.objects.count(),
        "events": CaseEvent.objects.count(),
        "assessments": Assessment.objects.count(),
        "outcomes": RuleOutcome.objects.count(),
    }


# -- review records: five years after the case closes -------------------------------------------


def test_review_records_go_five_years_after_the_case_closes_and_the_trail_stays(
    reviewed, media, django_capture_on_commit_callbacks
):
    closed_at = close(reviewed.case).closed_at
    assert closed_at is not None
    before, files = aml_rows(), files_on_disk(media)
    assert (before["documents"], before["statements"], before["requests"], len(files)) == (1, 1, 1, 1)
    for months in (0, 13, 37, 59):
        outcomes = by_name(retention_purge(now=later(months, closed_at)))
        assert {name: outcomes[name] for name in REVIEW_RECORDS} == dict.fromkeys(
            REVIEW_RECORDS, (0, 0, 0, 1)
        )
        assert aml_rows() == before and files_on_disk(media) == files

    with django_capture_on_commit_callbacks(execute=True):
        outcomes = by_name(retention_purge(now=later(61, closed_at)))

    assert {name: outcomes[name] for name in REVIEW_RECORDS} == dict.fromkeys(REVIEW_RECORDS, (1, 1, 0, 0))
    # Past their period, kept: the decision's explanation and its audit trail (docs/privacy.md).
    assert outcomes["aml.cases"] == (1, 0, 0, 0)
    assert outcomes["aml.case_events"] == (before["events"], 0, 0, 0)
    # the engine's screening of the deposit and the review helper's assessment, every rule outcome of both
    assert before["assessments"] == 2
    assert outcomes["aml.assessments"] == (2, 0, 0, 0)
    assert outcomes["aml.rule_outcomes"] == (before["outcomes"], 0, 0, 0)
    assert aml_rows() == {**before, "documents": 0, "statements": 0, "requests": 0}
    assert files_on_disk(media) == []  # the PDF went with its row
    assert by_name(retention_purge(now=later(61, closed_at)))["aml.documents"] == (0, 0, 0, 0)


def test_an_open_case_keeps_its_records_and_its_person_whatever_the_date(reviewed, media):
    account_terminate(profile=reviewed.client, reason="closed at the client's request")
    before = aml_rows()
    outcomes = by_name(retention_purge(now=later(121)))
    assert {name: outcomes[name] for name in REVIEW_RECORDS} == dict.fromkeys(REVIEW_RECORDS, (0, 0, 0, 1))
    # Ten years on, every financial record is past its period; the open case (not closed) holds the person.
    assert outcomes["profile"] == (0, 0, 1, 0)
    assert aml_rows() == before and len(files_on_disk(media)) == 1
    assert ClientProfile.objects.get(pk=reviewed.client.pk).anonymised_at is None


def _raw(sql: str, pk: int, *, before: datetime | None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if before is not None:
            cursor.execute("SELECT set_config('nexora.purge_before', %s, true)", [before.isoformat()])
        cursor.execute(sql, [pk])


RAW_SQL = {  # (delete, update, count) per table, written out: no SQL is built from strings
    "cases_clientdocument": (
        "DELETE FROM cases_clientdocument WHERE id = %s",
        "UPDATE cases_clientdocument SET created_at = now() WHERE id = %s",
        "SELECT count(*) FROM cases_clientdocument WHERE id = %s",
    ),
    "cases_clientstatement": (
        "DELETE FROM cases_clientstatement WHERE id = %s",
        "UPDATE cases_clientstatement SET created_at = now() WHERE id = %s",
        "SELECT count(*) FROM cases_clientstatement WHERE id = %s",
    ),
}


@pytest.mark.parametrize("table", sorted(RAW_SQL))
def test_the_database_refuses_an_early_deletion_even_from_the_purge(reviewed, table):
    pk = reviewed.document.pk if table == "cases_clientdocument" else reviewed.statement.pk
    delete, update, count = RAW_SQL[table]
    far = later(600)
    for sql, cutoff in ((delete, far), (delete, None), (update, far)):  # the case is still open
        with pytest.raises(IntegrityError, match="append-only"):
            _raw(sql, pk, before=cutoff)
    closed_at = close(reviewed.case).closed_at
    assert closed_at is not None
    for sql, cutoff in ((delete, closed_at), (delete, None), (update, far)):  # closed, not before the cut-off
        with pytest.raises(IntegrityError, match="append-only"):
            _raw(sql, pk, before=cutoff)
    _raw(delete, pk, before=closed_at + timedelta(microseconds=1))  # the purge's own path
    with connection.cursor() as cursor:
        cursor.execute(count, [pk])
        assert cursor.fetchone() == (0,)


# -- notifications: the technical log period ----------------------------------------------------


def test_notifications_and_their_delivery_log_go_after_twelve_months(make_client):
    client = make_client(email="ada@example.com")
    notification_send(client=client, event="released", dedupe_key="case:1:release")
    notification_send(client=client, event="account_unfrozen", dedupe_key="case:1:unfreeze")
    TelegramLinkCode.objects.create(
        client=client, code_hash=link_code_hash("one-time"), expires_at=timezone.now()
    )
    assert (Notification.objects.count(), NotificationDelivery.objects.count()) == (2, 2)  # inbox + e-mail
    names = ("notifications.deliveries", "notifications.inbox", "notifications.telegram_codes")

    outcomes = by_name(retention_purge(now=later(11)))
    assert [outcomes[n] for n in names] == [(0, 0, 0, 2), (0, 0, 0, 2), (0, 0, 0, 1)]
    outcomes = by_name(retention_purge(now=later(13)))
    assert [outcomes[n] for n in names] == [(2, 2, 0, 0), (2, 2, 0, 0), (1, 1, 0, 0)]
    assert (
        Notification.objects.count(),
        NotificationDelivery.objects.count(),
        TelegramLinkCode.objects.count(),
    ) == (
        0,
        0,
        0,
    )


# -- refunds and refund addresses: financial, five years after they end -------------------------


@pytest.fixture
def refunds(make_network, make_client, make_staff):
    network, client = make_network("usdt-erc20"), make_client()
    deposit, _ = held_deposit(client, network)
    hold = deposit.hold
    assert hold is not None
    officer = make_staff("compliance_officer")

    def ask(amount: str) -> PayoutRequest:
        return payout_request(
            client=client, hold=hold, amount=amount, destination=SENDER, network=network,
            reason=REFUND_REASON, actor=officer, reference="case:1",
        )  # fmt: skip

    finished = payout_reject(payout=ask("20.00"), actor=officer, reason="the client asked to keep it")
    running = ask("30.00")
    first = refund_address_activate(
        refund_address=refund_address_record(client=client, network=network, address=OTHER)
    )
    current = refund_address_activate(
        refund_address=refund_address_record(client=client, network=network, address=THIRD)
    )
    return SimpleNamespace(
        client=client, officer=officer, finished=finished, running=running, first=first, current=current
    )


def test_refunds_lose_their_addresses_five_years_after_they_end_never_while_open(refunds):
    finished, running, first, current = refunds.finished, refunds.running, refunds.first, refunds.current
    assert RefundAddress.objects.get(pk=first.pk).status == "superseded"
    outcomes = by_name(retention_purge(now=later(59)))
    assert (outcomes["payouts"], outcomes["refund_addresses"]) == ((0, 0, 0, 2), (0, 0, 0, 2))

    outcomes = by_name(retention_purge(now=later(61)))
    assert outcomes["payouts"] == (1, 1, 0, 1)  # the running refund has no end yet: inside its period
    assert outcomes["refund_addresses"] == (1, 1, 0, 0)  # the one in use stays for the next refund
    done = PayoutRequest.objects.get(pk=finished.pk)
    assert (done.source_address, done.reason, done.decided_reason, done.failure_reason) == ("", "", "", "")
    assert (done.destination, done.amount, done.status) == (SENDER, finished.amount, "rejected")
    assert PayoutRequest.objects.get(pk=running.pk).reason == REFUND_REASON
    addresses = dict(RefundAddress.objects.values_list("pk", "address"))
    assert addresses == {first.pk: "", current.pk: THIRD}


def test_the_address_in_use_goes_with_the_person(refunds):
    payout_reject(payout=refunds.running, actor=refunds.officer, reason="no longer needed")
    for case in Case.objects.filter(client=refunds.client).exclude(status="closed"):  # the engine's review
        case_transition(case, to="closed", reason="refund rejected", resolution="rejected")
    account_terminate(profile=refunds.client, reason="closed at the client's request")
    assert by_name(retention_purge(now=later(59)))["profile"] == (0, 0, 1, 0)  # refunds hold the person
    outcomes = by_name(retention_purge(now=later(61)))
    assert outcomes["profile"] == (1, 1, 0, 0)
    assert outcomes["refund_addresses"] == (2, 2, 0, 0)  # in the same run, after the profile
    assert set(RefundAddress.objects.values_list("address", flat=True)) == {""}


# -- the client's copy ---------------------------------------------------------------------------


def test_the_copy_has_what_the_client_was_shown_and_no_aml_internal(reviewed, make_staff):
    client = reviewed.client
    notification_send(client=client, event="documents_requested", dedupe_key="request:1")
    payout = payout_request(
        client=client, hold=reviewed.deposit.hold, amount="50.00", destination=SENDER,
        network=reviewed.network, reason=REFUND_REASON, actor=reviewed.officer,
    )  # fmt: skip
    document = export_build(client=client)
    sections = document["categories"]

    assert AML_INTERNALS.isdisjoint(sections)
    (row,) = sections["aml.documents"]
    assert row == {
        "id": str(reviewed.document.public_id),
        "created_at": reviewed.document.created_at.isoformat(),
        "request": str(reviewed.request.public_id),
        "item": "source_of_funds",
        "file_name": "payslip.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    (statement,) = sections["aml.statements"]
    assert (statement["kind"], statement["text"], statement["language"]) == (
        "statement",
        "It is my salary.",
        "en",
    )
    (request,) = sections["aml.document_requests"]
    assert (request["items"], request["status"]) == (["source_of_funds"], "fulfilled")
    assert set(request) == {"id", "created_at", "items", "due_on", "status", "fulfilled_at"}
    (notice,) = sections["notifications.inbox"]
    assert (notice["event"], notice["title"], notice["read_at"]) == (
        "documents_requested",
        "We need some documents from you",
        None,
    )
    assert sections["notifications.deliveries"] == []  # no e-mail address, no Telegram: inbox only
    (refund,) = sections["payouts"]
    assert (refund["id"], refund["amount"], refund["crypto_amount"], refund["asset"]) == (
        str(payout.public_id),
        "50.00",
        "50",
        "USDT",
    )
    assert (refund["destination"], refund["status"], refund["tx_hash"]) == (SENDER, "requested", "")
    text = orjson.dumps(document).decode()
    for secret in (STAFF_COMMENT, REFUND_REASON, "first_deposit_size", "threshold", "large first deposit"):
        assert secret not in text


# -- erasure ---------------------------------------------------------------------------------------


def test_an_undisclosed_category_cannot_be_in_the_clients_copy(monkeypatch):
    monkeypatch.setattr(registry, "_categories", dict(registry._categories))
    with pytest.raises(ValueError, match="undisclosed category cannot be in the client's copy"):
        category_register(
            name="test.hidden", model="aml.Assessment", owner="client", clock="created_at", period="aml",
            action="keep", title="x", disclosed=False, export=lambda client: [],
        )  # fmt: skip
    assert "test.hidden" not in registry._categories


def test_an_open_case_and_a_refund_in_progress_block_erasure(reviewed):
    reasons = erasure_blockers(client=reviewed.client)
    assert "An AML case of this client is still open: it must be closed first." in reasons
    close(reviewed.case)
    assert "An AML case of this client is still open: it must be closed first." not in erasure_blockers(
        client=reviewed.client
    )
    payout_request(
        client=reviewed.client, hold=reviewed.deposit.hold, amount="50.00", destination=SENDER,
        network=reviewed.network, reason=REFUND_REASON, actor=reviewed.officer,
    )  # fmt: skip
    assert "A refund is still in progress: wait until it is confirmed or rejected." in erasure_blockers(
        client=reviewed.client
    )


def test_the_erasure_summary_never_names_an_aml_record_but_keeps_the_name_for_it(reviewed):
    closed = close(reviewed.case)
    Case.objects.filter(pk=closed.pk).update(closed_at=later(24))  # the review ended two years later
    Assessment.objects.create(
        subject_type="account_change", subject_ref=f"account:{reviewed.client.pk}:email",
        client=reviewed.client, ruleset=RuleSet.objects.get(status="published"), score=10, decision="allow",
        summary="e-mail changed",
    )  # fmt: skip
    kept = erasure_preview(client=reviewed.client)
    names = {entry["category"] for entry in kept}
    assert AML_INTERNALS.isdisjoint(names)
    assert set(REVIEW_RECORDS) <= names  # the client sent or saw these
    until = later(60, later(24)).date().isoformat()
    assert {entry["category"]: entry["until"] for entry in kept}["aml.documents"] == until
    assert {entry["category"]: entry["until"] for entry in kept}["profile"] == until


def test_executing_an_erasure_erases_notifications_and_keeps_review_records(
    make_client, make_staff, django_capture_on_commit_callbacks
):
    client = make_client(email="ada@example.com", balance="10.00")
    charge_create(
        client_id=client.pk,
        amount=Decimal("10.00"),
        currency="USD",
        description="last month",
        idempotency_key="last",
    )
    notification_send(client=client, event="released", dedupe_key="case:9:release")
    TelegramLinkCode.objects.create(
        client=client, code_hash=link_code_hash("code"), expires_at=timezone.now()
    )
    erasure = erasure_request_create(client=client)
    with django_capture_on_commit_callbacks(execute=True):
        erasure_execute(erasure=erasure, actor=make_staff("compliance_lead"), comment="done")
    assert (
        Notification.objects.count(),
        NotificationDelivery.objects.count(),
        TelegramLinkCode.objects.count(),
    ) == (
        0,
        0,
        0,
    )
