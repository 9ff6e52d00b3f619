"""Four-eyes on case decisions: what needs a second lead, and every way around it that must fail.

A pending approval moves no money; only ``approval_decide`` by a holder of ``cases.decide_case``
other than the requester executes it, once. The database repeats the rules (CHECK, unique pending
approval, append-only trigger), checked here on PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from aml.cases.actions import (
    approval_decide,
    case_close_false_positive,
    case_escalate,
    case_note_add,
    case_refund,
    case_release,
    case_unfreeze,
)
from aml.cases.approval_selectors import approval_by_public_id, approvals_for_case, approvals_pending
from aml.cases.models import Approval, CaseEvent
from aml.cases.services import case_transition
from aml.notifications.models import Notification
from nexora.accounts.services import account_freeze
from nexora.common.errors import NexoraError
from nexora.common.models import StatusChange
from payments.models import LedgerTransaction
from payments.selectors.ledger import balance_get
from tests.review_helpers import held_deposit, review_case

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world(make_network, make_client, make_staff, settings):
    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = D("40")
    network, client = make_network("usdt-erc20"), make_client()
    deposit, _ = held_deposit(client, network)
    return SimpleNamespace(
        network=network,
        client=client,
        deposit=deposit,
        case=review_case(client, deposit),
        officer=make_staff("compliance_officer"),
        lead=make_staff("compliance_lead"),
        lead2=make_staff("compliance_lead"),
        admin=make_staff("admin"),
        support=make_staff("support"),
    )


def balances(client):
    balance = balance_get(client=client)
    return balance.available, balance.held


def written():
    return (
        CaseEvent.objects.count(),
        LedgerTransaction.objects.count(),
        StatusChange.objects.count(),
        list(Approval.objects.order_by("id").values_list("status", flat=True)),
    )


def refused(code, fn, **kwargs):
    before = written()
    with pytest.raises(NexoraError) as exc:
        fn(**kwargs)
    assert exc.value.code == code, exc.value.message
    assert written() == before


def status(case):
    case.refresh_from_db()
    return case.status, case.resolution


def pending_release(world, actor=None, amount=None):
    result = case_release(case=world.case, actor=actor or world.officer, comment="explained", amount=amount)
    assert result.pending and result.approval is not None
    return result.approval


def test_a_release_above_the_threshold_waits_then_a_lead_approves_it(world):
    approval = pending_release(world)
    assert (approval.action, approval.params, approval.status, approval.previous_status) == (
        "release",
        {"amount": "50.00"},
        "pending",
        "open",
    )
    assert status(world.case) == ("pending_approval", "")
    assert balances(world.client) == (D("0.00"), D("50.00"))
    assert list(approvals_pending()) == [approval]
    requested = CaseEvent.objects.filter(case=world.case, action="approval_requested").get()
    assert (requested.actor, requested.comment, requested.amount) == (world.officer, "explained", D("50.00"))

    result = approval_decide(approval=approval, actor=world.lead, approve=True, comment="agree")
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert status(world.case) == ("closed", "released")
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.decided_comment) == (
        "approved",
        world.lead,
        "agree",
    )
    assert result.approval is not None and not result.pending
    assert result.approval.status == "approved"
    key = f"case:{world.case.pk}:release:a{approval.pk}:{world.deposit.hold_id}"
    assert LedgerTransaction.objects.filter(idempotency_key=key).count() == 1
    actions = list(CaseEvent.objects.filter(case=world.case).values_list("action", "actor"))
    assert ("approval_requested", world.officer.pk) in actions
    assert ("approval_approved", world.lead.pk) in actions
    assert ("released", world.lead.pk) in actions
    assert list(approvals_pending()) == []
    assert list(approvals_for_case(world.case)) == [approval]
    assert approval_by_public_id(str(approval.public_id)) == approval
    assert Notification.objects.filter(client=world.client, event="released").count() == 1


def test_under_the_threshold_no_second_approval(world):
    result = case_release(case=world.case, actor=world.officer, comment="small", amount=D("40.00"))
    assert not result.pending
    assert balances(world.client) == (D("40.00"), D("10.00"))


def test_splitting_a_large_release_into_small_ones_does_not_dodge_the_threshold(world):
    case_release(case=world.case, actor=world.officer, comment="first part", amount=D("30.00"))
    result = case_release(case=world.case, actor=world.officer, comment="second part", amount=D("20.00"))
    assert result.pending
    assert balances(world.client) == (D("30.00"), D("20.00"))


def test_the_requester_cannot_approve_their_own_request(world):
    approval = pending_release(world, actor=world.lead)
    refused("four_eyes_same_person", approval_decide, approval=approval, actor=world.lead, approve=True,
            comment="me")  # fmt: skip
    assert balances(world.client) == (D("0.00"), D("50.00"))


def test_an_officer_or_support_cannot_approve(world, make_staff):
    approval = pending_release(world)
    for actor in (make_staff("compliance_officer"), world.support, world.client.user):
        refused("four_eyes_lead_required", approval_decide, approval=approval, actor=actor, approve=True,
                comment="ok")  # fmt: skip
    assert balances(world.client) == (D("0.00"), D("50.00"))
    # an admin holds decide_case
    approval_decide(approval=approval, actor=world.admin, approve=True, comment="ok")
    assert balances(world.client) == (D("50.00"), D("0.00"))


def test_a_decided_approval_cannot_be_decided_again(world):
    approval = pending_release(world)
    approval_decide(approval=approval, actor=world.lead, approve=True, comment="ok")
    # the same stale object, or a fresh one, by the same or another lead: the money moved once
    world.case.refresh_from_db()
    for actor, approve in ((world.lead, True), (world.lead2, True), (world.lead2, False)):
        with pytest.raises(NexoraError) as exc:
            approval_decide(approval=approval, actor=actor, approve=approve, comment="again")
        assert exc.value.code in {"approval_decided", "case_closed"}
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert LedgerTransaction.objects.filter(kind="release").count() == 1


def test_a_second_approval_of_a_still_open_case_is_refused_as_decided(world):
    approval = pending_release(world, amount=D("45.00"))
    approval_decide(approval=approval, actor=world.lead, approve=True, comment="ok")
    assert status(world.case) == ("open", "")
    refused(
        "approval_decided", approval_decide, approval=approval, actor=world.lead2, approve=True, comment="x"
    )
    assert balances(world.client) == (D("45.00"), D("5.00"))


def test_approving_after_the_case_was_closed_is_refused(world):
    approval = pending_release(world)
    world.case.refresh_from_db()
    case_transition(world.case, to="closed", reason="closed elsewhere", resolution="rejected")
    refused("case_closed", approval_decide, approval=approval, actor=world.lead, approve=True, comment="ok")
    assert balances(world.client) == (D("0.00"), D("50.00"))


def test_a_rejection_puts_the_case_back_and_moves_nothing(world):
    case_escalate(case=world.case, actor=world.officer, comment="to a lead")
    approval = pending_release(world)
    assert approval.previous_status == "escalated"
    result = approval_decide(approval=approval, actor=world.lead, approve=False, comment="not convinced")
    assert status(world.case) == ("escalated", "")
    assert result.approval is not None and result.approval.status == "rejected"
    assert balances(world.client) == (D("0.00"), D("50.00"))
    event = CaseEvent.objects.filter(case=world.case, action="approval_rejected").get()
    assert (event.actor, event.comment) == (world.lead, "not convinced")
    # the case can be worked again
    assert pending_release(world).status == "pending"


def test_while_an_approval_is_pending_only_notes_and_assignment_pass(world):
    pending_release(world)
    base = {"case": world.case, "actor": world.officer, "comment": "x"}
    refused("approval_pending", case_release, **base)
    refused("approval_pending", case_escalate, **base)
    refused("approval_pending", case_refund, **base)
    refused("approval_pending", case_close_false_positive, **base)
    refused("approval_pending", case_unfreeze, case=world.case, actor=world.lead, comment="x")
    case_note_add(**base)


def test_sanctions_and_freeze_cases_always_need_a_second_lead(world, make_client, settings):
    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = D("1000")
    other = make_client()
    deposit, _ = held_deposit(other, world.network, amount="5.00")
    case = review_case(other, deposit, sanctions=True)
    assert case_release(case=case, actor=world.officer, comment="name match only", amount=D("1.00")).pending
    assert balances(other) == (D("0.00"), D("5.00"))


def test_unfreeze_is_four_eyes_and_closes_a_case_with_nothing_held(world):
    account_freeze(profile=world.client, reason="review")
    case_release(case=world.case, actor=world.officer, comment="money ok", amount=D("40.00"))
    refused("permission_denied", case_unfreeze, case=world.case, actor=world.officer, comment="unfreeze")
    result = case_unfreeze(case=world.case, actor=world.lead, comment="unfreeze")
    assert result.pending and result.approval is not None
    world.client.refresh_from_db()
    assert world.client.status == "frozen"
    approval_decide(approval=result.approval, actor=world.lead2, approve=True, comment="agree")
    world.client.refresh_from_db()
    assert world.client.status == "active"
    assert status(world.case) == ("open", "")  # 10.00 is still held
    assert Notification.objects.filter(client=world.client, event="account_unfrozen").count() == 1


def test_false_positive_of_a_frozen_account_waits_then_releases_unfreezes_and_closes(world):
    account_freeze(profile=world.client, reason="review")
    result = case_close_false_positive(case=world.case, actor=world.officer, comment="all fine")
    assert result.pending and result.approval is not None
    assert result.approval.params == {"amount": "50.00"}
    approval_decide(approval=result.approval, actor=world.lead, approve=True, comment="agree")
    world.client.refresh_from_db()
    assert world.client.status == "active"
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert status(world.case) == ("closed", "false_positive")


def test_the_database_refuses_a_second_pending_approval_and_self_approval(world):
    approval = pending_release(world)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(case=world.case, action="release", previous_status="open",
                                requested_by=world.lead, requested_comment="again")  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(
            status="approved", decided_by=world.officer, decided_at=timezone.now()
        )


def test_the_database_refuses_to_change_a_decided_approval_or_delete_one(world):
    approval = pending_release(world)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(params={"amount": "5000.00"})
    approval_decide(approval=approval, actor=world.lead, approve=False, comment="no")
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(status="approved")
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(decided_comment="edited")
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=approval.pk)._raw_delete(Approval.objects.db)
    approval.refresh_from_db()
    assert (approval.status, approval.decided_comment) == ("rejected", "no")
