"""Erasure end to end: the client asks, staff see it in the queue with its due date, execution
waits while money is on the account, then erases what no legal duty keeps, records and tells what
is kept and until when; refusal and withdrawal; who may do what."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from nexora.accounts.models import AccountStatus, ClientProfile, SecurityEvent
from nexora.common.errors import Conflict
from nexora.common.models import StatusChange
from nexora.privacy.models import ErasureRequest, ErasureStatus
from nexora.privacy.registry import erasure_check_register, erasure_check_unregister
from nexora.privacy.retention import months_after
from nexora.privacy.services.erasure import erasure_execute, erasure_request_create
from payments.models import Deposit, LedgerEntry, TopUp
from payments.services.charges import charge_create
from tests.conftest import otp_verified

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def browser(user: object) -> Client:
    web = Client()
    web.force_login(user)  # type: ignore[arg-type]
    return web


def settle(client: ClientProfile) -> None:
    """Spend the balance (140.00 in the ``person`` fixture) so nothing of the client's is left."""
    charge_create(client_id=client.pk, amount=Decimal("140.00"), currency="USD", description="final invoice",
                  idempotency_key=f"final-{client.pk}")  # fmt: skip


@pytest.fixture
def lead(make_staff):
    return make_staff("compliance_lead")


def test_the_whole_path(person, lead, django_capture_on_commit_callbacks):
    client = person.client
    user = client.user
    otp_verified(user)  # the client turned two-factor authentication on
    Token.objects.create(user=user)
    web = browser(user)
    page = web.get("/account/privacy/")
    assert page.status_code == 200 and "What would be kept" in page.content.decode()
    assert web.post("/account/privacy/erasure/").status_code == 302
    erasure = ErasureRequest.objects.get()
    assert erasure.status == ErasureStatus.PENDING and erasure.client == client
    assert abs(erasure.due_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert web.post("/account/privacy/erasure/").status_code == 302  # a second ask adds nothing
    assert ErasureRequest.objects.count() == 1

    staff = browser(lead)
    queue = staff.get("/staff/privacy/erasures/")
    assert queue.status_code == 200 and f"#{erasure.pk}" in queue.content.decode()
    assert "30 days left" in queue.content.decode() or "29 days left" in queue.content.decode()
    detail = staff.get(f"/staff/privacy/erasures/{erasure.pk}/")
    assert detail.status_code == 200 and "still holds money" in detail.content.decode()

    # Money on the account: executing is refused and changes nothing.
    before = (LedgerEntry.objects.count(), SecurityEvent.objects.count())
    refused = staff.post(f"/staff/privacy/erasures/{erasure.pk}/execute/", {"comment": ""})
    assert refused.status_code == 302
    erasure.refresh_from_db()
    assert erasure.status == ErasureStatus.PENDING
    assert (LedgerEntry.objects.count(), SecurityEvent.objects.count()) == before
    user.refresh_from_db()
    assert user.email == "ada@example.com" and user.is_active

    settle(client)
    ledger_before = LedgerEntry.objects.count()
    security_before = SecurityEvent.objects.filter(user=user).count()
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail leaves after commit
        done = staff.post(f"/staff/privacy/erasures/{erasure.pk}/execute/", {"comment": "identity checked"})
    assert done.status_code == 302
    erasure.refresh_from_db()
    assert erasure.status == ErasureStatus.COMPLETED and erasure.decided_by == lead
    until_financial = months_after(
        LedgerEntry.objects.filter(account__client=client).latest("created_at").created_at, 60
    )
    kept = {k["category"]: (k["count"], k["until"]) for k in erasure.kept}
    assert kept == {
        "security_log": (
            security_before,
            months_after(SecurityEvent.objects.filter(user=user).latest("created_at").created_at, 12)
            .date()
            .isoformat(),
        ),
        "topups": (1, months_after(person.topup.created_at, 60).date().isoformat()),
        "deposits": (1, months_after(person.deposit.created_at, 60).date().isoformat()),
        "charges": (2, until_financial.date().isoformat()),
        "ledger": (4, until_financial.date().isoformat()),
        "tx_lookups": (1, months_after(person.lookup.created_at, 12).date().isoformat()),
        "profile": (1, until_financial.date().isoformat()),
    }

    # What no legal duty keeps is gone; the records stay, attached to a client number.
    client.refresh_from_db()
    user.refresh_from_db()
    assert (user.username, user.email, user.is_active, user.has_usable_password()) == (
        f"erased-{client.pk}",
        "",
        False,
        False,
    )
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")  # kept with the financial records
    assert client.telegram_chat_id == "" and not client.notify_email and client.anonymised_at is None
    assert client.status == AccountStatus.TERMINATED and client.closed_at is not None
    assert not TOTPDevice.objects.filter(user=user).exists() and not Token.objects.filter(user=user).exists()
    assert LedgerEntry.objects.count() == ledger_before
    assert (
        TopUp.objects.filter(client=client).count() == 1
        and Deposit.objects.filter(client=client).count() == 1
    )
    assert (
        StatusChange.objects.filter(
            entity="erasure", entity_id=str(erasure.pk), to_status="completed"
        ).count()
        == 1
    )
    assert (
        SecurityEvent.objects.filter(
            user=lead, kind="staff_action", detail__contains=f"#{erasure.pk}"
        ).count()
        == 1
    )

    # The old session is dead, the login is gone, and the client was told at their old address.
    assert web.get("/account/privacy/").status_code == 302
    assert not Client().login(username="client1", password="pw-123456")
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"] and message.subject == "Your data was erased"
    assert "Balance movements (4): until" in message.body and "accounting and tax law" in message.body

    # The erased person goes entirely once the records expire.
    from nexora.privacy.retention import retention_purge

    retention_purge(now=months_after(timezone.now(), 61))
    client.refresh_from_db()
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("", "") and client.anonymised_at is not None
    assert LedgerEntry.objects.count() == ledger_before


def test_a_client_without_financial_records_is_anonymised_at_once(make_client, lead):
    client = make_client(email="new@example.com")
    erasure = erasure_request_create(client=client)
    erasure_execute(erasure=erasure, actor=lead)
    client.refresh_from_db()
    assert (
        client.anonymised_at is not None
        and client.user.email == ""
        and client.user.username.startswith("erased-")
    )
    kept = ErasureRequest.objects.get().kept
    assert [(k["category"], k["count"]) for k in kept] == [("security_log", 1)]  # the request, logged


def test_an_open_top_up_or_another_apps_check_blocks_execution(person, lead, make_network):
    settle(person.client)
    erasure = erasure_request_create(client=person.client)
    TopUp.objects.filter(pk=person.topup.pk).update(status="awaiting_payment")
    with pytest.raises(Conflict, match="still open"):
        erasure_execute(erasure=erasure, actor=lead)
    TopUp.objects.filter(pk=person.topup.pk).update(status="completed")

    def open_case(client: ClientProfile) -> str | None:
        return "An AML case is open." if client.pk == person.client.pk else None

    erasure_check_register(open_case)
    try:
        with pytest.raises(Conflict, match="AML case"):
            erasure_execute(erasure=erasure, actor=lead)
    finally:
        erasure_check_unregister(open_case)
    assert ErasureRequest.objects.get().status == ErasureStatus.PENDING
    erasure_execute(erasure=erasure, actor=lead)
    assert ErasureRequest.objects.get().status == ErasureStatus.COMPLETED


def test_refusal_needs_a_reason_which_the_client_reads(person, lead):
    erasure = erasure_request_create(client=person.client)
    staff = browser(lead)
    staff.post(f"/staff/privacy/erasures/{erasure.pk}/refuse/", {"comment": "  "})
    erasure.refresh_from_db()
    assert erasure.status == ErasureStatus.PENDING
    staff.post(f"/staff/privacy/erasures/{erasure.pk}/refuse/", {"comment": "An investigation is ongoing."})
    erasure.refresh_from_db()
    assert erasure.status == ErasureStatus.REFUSED and erasure.comment == "An investigation is ongoing."
    page = browser(person.client.user).get("/account/privacy/")
    assert "An investigation is ongoing." in page.content.decode()
    person.client.user.refresh_from_db()
    assert person.client.user.email == "ada@example.com"
    assert staff.post(f"/staff/privacy/erasures/{erasure.pk}/execute/").status_code == 302
    erasure.refresh_from_db()
    assert erasure.status == ErasureStatus.REFUSED  # an answered request cannot be answered again


def test_the_client_can_withdraw(person):
    web = browser(person.client.user)
    web.post("/account/privacy/erasure/")
    assert web.post("/account/privacy/erasure/withdraw/").status_code == 302
    assert ErasureRequest.objects.get().status == ErasureStatus.WITHDRAWN
    web.post("/account/privacy/erasure/")
    assert ErasureRequest.objects.filter(status=ErasureStatus.PENDING).count() == 1


@pytest.mark.parametrize(
    ("role", "view", "answer"),
    [
        ("support", 200, 403),
        ("compliance_officer", 200, 403),
        ("compliance_lead", 200, 302),
        ("admin", 200, 302),
    ],
)
def test_who_sees_and_who_answers(person, make_staff, role, view, answer):
    erasure = erasure_request_create(client=person.client)
    staff = browser(make_staff(role))
    assert staff.get("/staff/privacy/erasures/").status_code == view
    assert staff.get(f"/staff/privacy/erasures/{erasure.pk}/").status_code == view
    assert (
        staff.post(f"/staff/privacy/erasures/{erasure.pk}/refuse/", {"comment": "no"}).status_code == answer
    )
    erasure.refresh_from_db()
    assert erasure.status == (ErasureStatus.REFUSED if answer == 302 else ErasureStatus.PENDING)


def test_clients_and_anonymous_have_no_queue(person):
    erasure = erasure_request_create(client=person.client)
    assert browser(person.client.user).get("/staff/privacy/erasures/").status_code == 403
    assert (
        browser(person.client.user).post(f"/staff/privacy/erasures/{erasure.pk}/execute/").status_code == 403
    )
    assert Client().get("/staff/privacy/erasures/")["Location"].startswith("/accounts/login/")
    assert ErasureRequest.objects.get().status == ErasureStatus.PENDING


def test_overdue_requests_are_flagged(person, lead):
    erasure = erasure_request_create(client=person.client)
    ErasureRequest.objects.filter(pk=erasure.pk).update(due_at=timezone.now() - timedelta(days=1))
    assert "Overdue" in browser(lead).get("/staff/privacy/erasures/").content.decode()
