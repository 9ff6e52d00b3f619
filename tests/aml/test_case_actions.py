"""Case actions (aml.cases.actions): exact balances, statuses and audit rows after each action.

Money is real: deposits are credited into ``held`` through the deposit services
(``tests.review_helpers.held_deposit``), the case is opened by the case core, and every release is
checked on the ledger (available / held from ``payments.selectors.ledger``, and the transaction
keys). Every refusal asserts its stable code and that nothing was written.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from aml.cases.actions import (
    CASE_ACTIONS,
    approval_decide,
    case_assign,
    case_close_false_positive,
    case_documents_request,
    case_escalate,
    case_next,
    case_note_add,
    case_refund,
    case_refund_settled,
    case_release,
    case_terminate,
)
from aml.cases.models import Approval, Case, CaseEvent, DocumentRequest
from aml.models import RuleSnooze
from aml.notifications.models import Notification
from nexora.accounts.services import account_freeze
from nexora.common.errors import NexoraError
from nexora.common.models import StatusChange
from payments.models import Deposit, Hold, LedgerTransaction, PayoutRequest, TopUp
from payments.selectors.ledger import balance_get, ledger_sum_mismatches
from payments.services.payouts import payout_approve, payout_mark_sent, payout_verify
from tests.review_helpers import SENDER, held_deposit, review_case

pytestmark = pytest.mark.django_db
D = Decimal
TREASURY = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture
def world(make_network, make_client, make_staff):
    network, client = make_network("usdt-erc20"), make_client()
    deposit, chain = held_deposit(client, network)
    return SimpleNamespace(
        network=network,
        client=client,
        deposit=deposit,
        chain=chain,
        case=review_case(client, deposit),
        officer=make_staff("compliance_officer"),
        officer2=make_staff("compliance_officer"),
        lead=make_staff("compliance_lead"),
        support=make_staff("support"),
        admin=make_staff("admin"),
    )


def balances(client):
    balance = balance_get(client=client)
    return balance.available, balance.held


def written():
    return (
        CaseEvent.objects.count(),
        LedgerTransaction.objects.count(),
        Approval.objects.count(),
        StatusChange.objects.count(),
        PayoutRequest.objects.count(),
        Notification.objects.count(),
        DocumentRequest.objects.count(),
    )


def refused(code, fn, **kwargs):
    before = written()
    with pytest.raises(NexoraError) as exc:
        fn(**kwargs)
    assert exc.value.code == code, exc.value.message
    assert written() == before
    return exc.value


def case_state(case):
    case.refresh_from_db()
    return case.status, case.resolution


def hold_of(deposit: Deposit) -> Hold:
    hold = deposit.hold
    assert hold is not None
    hold.refresh_from_db()
    return hold


def pk_of(case: Case | None) -> int | None:
    return None if case is None else case.pk


def last_event(case, action):
    return CaseEvent.objects.filter(case=case, action=action).order_by("-id").first()


# --- release -------------------------------------------------------------------------------------


def test_release_moves_everything_held_closes_the_case_and_tells_the_client(world):
    assert balances(world.client) == (D("0.00"), D("50.00"))
    result = case_release(case=world.case, actor=world.officer, comment="  source of funds checked  ")
    assert (result.pending, result.approval) == (False, None)
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert case_state(world.case) == ("closed", "released")
    event = last_event(world.case, "released")
    assert (event.actor, event.comment, event.amount, event.currency) == (
        world.officer,
        "source of funds checked",
        D("50.00"),
        "USD",
    )
    hold = hold_of(world.deposit)
    assert event.after == {"holds": [{"hold": hold.pk, "amount": "50.00"}], "ref": ""}
    key = f"case:{world.case.pk}:release:e{event.pk}:{hold.pk}"
    assert LedgerTransaction.objects.get(idempotency_key=key).kind == "release"
    hold.refresh_from_db()
    assert (hold.status, hold.remaining) == ("closed", D("0.00"))
    assert TopUp.objects.get(deposits=world.deposit).review == "released"
    notice = Notification.objects.get(client=world.client, event="released")
    assert notice.params == {"amount": "50.00", "currency": "USD"}
    assert ledger_sum_mismatches() == []


def test_missing_or_too_long_comment_is_refused_and_nothing_is_written(world):
    for comment in ("", "   ", None, "x" * 2001):
        exc = refused("comment_required", case_release, case=world.case, actor=world.officer, comment=comment)
        assert list(exc.fields) == ["comment"]
    for name in ("note", "escalate", "refund", "release", "close_false_positive"):
        refused("comment_required", CASE_ACTIONS[name], case=world.case, actor=world.officer, comment=" ")
    assert balances(world.client) == (D("0.00"), D("50.00"))


def test_support_and_anonymous_cannot_act(world):
    from django.contrib.auth.models import AnonymousUser

    for actor in (world.support, AnonymousUser(), world.client.user):
        refused("permission_denied", case_release, case=world.case, actor=actor, comment="ok")
        refused("permission_denied", case_note_add, case=world.case, actor=actor, comment="ok")
        refused("permission_denied", case_next, actor=actor)
    assert world.support.has_perm("cases.view_case")
    assert not world.support.has_perm("cases.work_case")
    assert world.officer.has_perm("cases.work_case") and not world.officer.has_perm("cases.decide_case")
    assert world.lead.has_perm("cases.decide_case") and world.admin.has_perm("cases.decide_case")


def test_partial_release_takes_the_oldest_hold_first_and_records_each_share(world):
    second, _ = held_deposit(world.client, world.network, amount="30.00")
    assert review_case(world.client, second).pk == world.case.pk
    assert balances(world.client) == (D("0.00"), D("80.00"))
    case_release(case=world.case, actor=world.officer, comment="part is explained", amount=D("60.00"))
    assert balances(world.client) == (D("60.00"), D("20.00"))
    assert case_state(world.case) == ("open", "")
    event = last_event(world.case, "released")
    first_hold, second_hold = hold_of(world.deposit), hold_of(second)
    assert event.after["holds"] == [
        {"hold": first_hold.pk, "amount": "50.00"},
        {"hold": second_hold.pk, "amount": "10.00"},
    ]
    assert event.amount == D("60.00")
    second_hold.refresh_from_db()
    assert (second_hold.status, second_hold.remaining) == ("active", D("20.00"))
    reviews = [TopUp.objects.get(deposits=d).review for d in (world.deposit, second)]
    assert reviews == ["released", "on_hold"]
    # the rest: the case closes
    case_release(case=world.case, actor=world.officer, comment="the rest too")
    assert balances(world.client) == (D("80.00"), D("0.00"))
    assert case_state(world.case) == ("closed", "released")


def test_release_refusals(world):
    base = {"case": world.case, "actor": world.officer, "comment": "ok"}
    refused("hold_exceeded", case_release, **base, amount=D("50.01"))
    refused("amount_not_positive", case_release, **base, amount=D("0"))
    refused("too_many_decimals", case_release, **base, amount="1.001")
    refused("invalid_amount", case_release, **base, amount=1.5)
    case_release(**base)
    refused("case_closed", case_release, **base)
    assert balances(world.client) == (D("50.00"), D("0.00"))


def test_a_double_submitted_release_moves_money_once(world):
    case_release(case=world.case, actor=world.officer, comment="ok")
    refused("case_closed", case_release, case=world.case, actor=world.officer2, comment="ok")
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert LedgerTransaction.objects.filter(kind="release").count() == 1


def test_a_frozen_account_keeps_the_case_open_after_the_money_is_released(world, settings):
    account_freeze(profile=world.client, reason="test")
    case_release(case=world.case, actor=world.officer, comment="money is fine", amount=D("50.00"))
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert case_state(world.case) == ("open", "")


# --- the other actions ---------------------------------------------------------------------------


def test_note_assign_and_next(world, make_client):
    case_note_add(case=world.case, actor=world.officer, comment="called the client")
    note = last_event(world.case, "note")
    assert (note.actor, note.comment) == (world.officer, "called the client")
    assert pk_of(case_next(actor=world.officer)) == world.case.pk
    assert case_state(world.case) == ("open", "")
    world.case.refresh_from_db()
    assert world.case.assignee == world.officer
    assert case_next(actor=world.officer2) is None  # the only case is taken
    refused("invalid_assignee", case_assign, case=world.case, actor=world.officer, assignee=world.support)
    result = case_assign(case=world.case, actor=world.officer, assignee=world.officer2)
    assert result.case.assignee == world.officer2
    event = last_event(world.case, "assigned")
    assert (event.actor, event.before, event.after) == (
        world.officer,
        {"assignee": world.officer.pk},
        {"assignee": world.officer2.pk},
    )


def test_escalate_then_a_lead_can_take_it_from_next(world):
    case_escalate(case=world.case, actor=world.officer, comment="needs a lead")
    assert case_state(world.case) == ("escalated", "")
    assert last_event(world.case, "escalated").comment == "needs a lead"
    refused("already_escalated", case_escalate, case=world.case, actor=world.officer, comment="again")
    assert case_next(actor=world.officer) is None
    assert pk_of(case_next(actor=world.lead)) == world.case.pk


def test_request_documents_keeps_the_money_held_and_tells_the_client(world):
    due = timezone.localdate() + timedelta(days=7)
    result = case_documents_request(
        case=world.case, actor=world.officer, comment="source?", items=["source_of_funds"], due_on=due
    )
    assert result.case.status == "awaiting_client"
    assert balances(world.client) == (D("0.00"), D("50.00"))
    request = DocumentRequest.objects.get(case=world.case)
    notice = Notification.objects.get(client=world.client, event="documents_requested")
    assert notice.params == {"due_date": due.isoformat(), "link": "/review/"}
    assert notice.dedupe_key == f"case:{world.case.pk}:documents:{request.pk}"
    refused(
        "invalid_items", case_documents_request, case=world.case, actor=world.officer, comment="x", items=[],
        due_on=due,
    )  # fmt: skip


def test_refund_creates_a_payout_request_and_moves_nothing_yet(world):
    result = case_refund(case=world.case, actor=world.officer, comment="reject: refund to source")
    payout = PayoutRequest.objects.get()
    assert (payout.reference, payout.amount, payout.hold_id, payout.status) == (
        f"case:{world.case.pk}",
        D("50.00"),
        world.deposit.hold_id,
        "requested",
    )
    assert result.case.status == "open"
    assert balances(world.client) == (D("0.00"), D("50.00"))
    event = last_event(world.case, "refund_requested")
    assert (event.actor, event.amount, event.after["payout"]) == (
        world.officer,
        D("50.00"),
        str(payout.public_id),
    )
    # everything is reserved by the refund: nothing is left to release or refund
    refused("nothing_held", case_release, case=world.case, actor=world.officer, comment="ok")
    refused("nothing_held", case_refund, case=world.case, actor=world.officer, comment="again")


def test_a_refund_confirmed_on_chain_closes_its_case(world, make_staff, django_capture_on_commit_callbacks):
    case_refund(case=world.case, actor=world.officer, comment="reject: refund to source")
    payout = payout_approve(payout=PayoutRequest.objects.get(), actor=world.lead, comment="agreed")
    assert balances(world.client) == (D("0.00"), D("0.00"))
    assert case_state(world.case) == ("open", "")  # the refund has not left yet
    transfer = world.chain.pay(SENDER, payout.units, sender=TREASURY)
    world.chain.mine(3)
    payout = payout_mark_sent(payout=payout, actor=make_staff("treasury"), tx_hash=transfer.tx_hash)
    with django_capture_on_commit_callbacks(execute=True):
        assert payout_verify(payout=payout, adapter=world.chain).status == "confirmed"
    assert case_state(world.case) == ("closed", "refunded")
    event = last_event(world.case, "refund_confirmed")
    assert (event.actor, event.amount, event.after) == (
        None,
        D("50.00"),
        {"payout": str(payout.public_id), "tx_hash": payout.tx_hash},
    )
    assert case_refund_settled(payout_id=payout.pk) == world.case  # again: nothing more is written
    assert CaseEvent.objects.filter(case=world.case, action="refund_confirmed").count() == 1


def test_refund_of_a_sanctions_case_is_refused(world, make_client):
    other = make_client()
    deposit, _ = held_deposit(other, world.network)
    case = review_case(other, deposit, sanctions=True)
    refused("refund_forbidden_sanctions", case_refund, case=case, actor=world.officer, comment="refund")
    assert balances(other) == (D("0.00"), D("50.00"))


def test_terminate_keeps_the_money_held_closes_the_case_and_a_refund_is_still_possible(world):
    refused("permission_denied", case_terminate, case=world.case, actor=world.officer, comment="bye")
    result = case_terminate(case=world.case, actor=world.lead, comment="policy breach")
    world.client.refresh_from_db()
    assert world.client.status == "terminated"
    assert (result.case.status, result.case.resolution) == ("closed", "terminated")
    assert balances(world.client) == (D("0.00"), D("50.00"))
    assert Notification.objects.filter(client=world.client, event="account_terminated").count() == 1
    refused("case_closed", case_release, case=world.case, actor=world.officer, comment="no")
    case_refund(case=world.case, actor=world.officer, comment="give it back")
    assert PayoutRequest.objects.get().reference == f"case:{world.case.pk}"


def test_close_false_positive_releases_snoozes_and_closes(world):
    case_note_add(case=world.case, actor=world.officer, comment="looked at it")
    until = timezone.localdate() + timedelta(days=30)
    result = case_close_false_positive(
        case=world.case, actor=world.officer, comment="regular client", snooze_rule="large_amount",
        snooze_until=until,
    )  # fmt: skip
    assert (result.case.status, result.case.resolution, result.pending) == ("closed", "false_positive", False)
    assert balances(world.client) == (D("50.00"), D("0.00"))
    snooze = RuleSnooze.objects.get()
    assert (snooze.rule, snooze.client_id, snooze.created_by) == (
        "large_amount",
        world.client.pk,
        world.officer,
    )


def test_close_false_positive_refuses_a_bad_snooze_and_writes_nothing(world):
    base = {"case": world.case, "actor": world.officer, "comment": "fp"}
    refused(
        "unknown_rule",
        case_close_false_positive,
        **base,
        snooze_rule="nope",
        snooze_until=timezone.localdate(),
    )
    refused("snooze_out_of_range", case_close_false_positive, **base, snooze_rule="large_amount")
    assert Hold.objects.get(pk=world.deposit.hold_id).status == "active"


def test_case_actions_table_names_every_action():
    assert sorted(CASE_ACTIONS) == sorted(
        ["assign", "note", "release", "request_documents", "refund", "escalate", "unfreeze", "terminate",
         "close_false_positive"]
    )  # fmt: skip


def test_case_rows_are_not_left_with_an_open_approval(world):
    assert Case.objects.get(pk=world.case.pk).approvals.count() == 0


# --- concurrency (PostgreSQL row locks) --------------------------------------------------------------


def run_at_once(*calls):
    """Run the calls in threads released together; returns each one's result or NexoraError code."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def work(index, call):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = call()
        except NexoraError as exc:
            outcomes[index] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_officers_releasing_at_once_move_the_money_once(world):
    def release(actor):
        return lambda: case_release(case=world.case, actor=actor, comment="at once").case.status

    outcomes = run_at_once(release(world.officer), release(world.officer2))
    assert sorted(outcomes) == ["case_closed", "closed"]
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert LedgerTransaction.objects.filter(kind="release").count() == 1
    assert CaseEvent.objects.filter(case=world.case, action="released").count() == 1
    assert ledger_sum_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_partial_releases_at_once_never_release_more_than_is_held(world):
    def release(actor):
        return lambda: str(
            case_release(case=world.case, actor=actor, comment="part", amount=D("30.00")).case.status
        )

    outcomes = run_at_once(release(world.officer), release(world.officer2))
    assert sorted(outcomes) == ["hold_exceeded", "open"]
    assert balances(world.client) == (D("30.00"), D("20.00"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_leads_approving_at_once_execute_it_once(world, settings, make_staff):
    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = D("10")
    approval = case_release(case=world.case, actor=world.officer, comment="big").approval
    assert approval is not None
    lead2 = make_staff("compliance_lead")

    def decide(actor):
        return lambda: approval_decide(approval=approval, actor=actor, approve=True, comment="ok").case.status

    outcomes = run_at_once(decide(world.lead), decide(lead2))
    assert sorted(outcomes) == ["case_closed", "closed"]
    assert balances(world.client) == (D("50.00"), D("0.00"))
    assert LedgerTransaction.objects.filter(kind="release").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_officers_asking_for_the_next_case_at_once_get_different_ones(world, make_client):
    other = make_client()
    deposit, _ = held_deposit(other, world.network)
    second = review_case(other, deposit)
    outcomes = run_at_once(
        lambda: pk_of(case_next(actor=world.officer)), lambda: pk_of(case_next(actor=world.officer2))
    )
    assert sorted(outcomes) == sorted([world.case.pk, second.pk])


# --- the audit trail --------------------------------------------------------------------------------

AUDITED: dict[str, tuple[str, dict[str, Any]]] = {
    "note": ("note", {}),
    "release": ("released", {}),
    "request_documents": ("documents_requested", {"items": ["identity"]}),
    "refund": ("refund_requested", {}),
    "escalate": ("escalated", {}),
    "terminate": ("terminated", {}),
    "close_false_positive": ("closed_false_positive", {}),
    "unfreeze": ("approval_requested", {}),
}


@pytest.mark.parametrize("name", sorted(AUDITED))
def test_every_action_writes_a_case_event_with_its_actor_and_comment(world, name):
    action, extra = AUDITED[name][0], dict(AUDITED[name][1])
    if name == "request_documents":
        extra["due_on"] = timezone.localdate() + timedelta(days=3)
    if name == "unfreeze":
        account_freeze(profile=world.client, reason="review")
    actor = world.lead if name in ("terminate", "unfreeze") else world.officer
    CASE_ACTIONS[name](case=world.case, actor=actor, comment=f"why {name}", **extra)
    event = last_event(world.case, action)
    assert event is not None
    assert (event.actor, event.comment) == (actor, f"why {name}")


def test_the_client_never_sees_the_staff_comment_in_their_ledger(world):
    case_release(case=world.case, actor=world.officer, comment="internal: matched a mixer cluster")
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world.client.user)
    body = api.get("/api/v1/ledger/").content.decode()
    assert "mixer" not in body
    assert LedgerTransaction.objects.filter(kind="release").get().description == "Released after review"


def test_closing_the_case_cancels_what_it_still_asked_of_the_client(world):
    due = timezone.localdate() + timedelta(days=7)
    case_documents_request(
        case=world.case, actor=world.officer, comment="source?", items=["identity"], due_on=due
    )
    case_release(case=world.case, actor=world.officer, comment="explained by phone")
    assert case_state(world.case) == ("closed", "released")
    assert DocumentRequest.objects.get(case=world.case).status == "cancelled"
    assert last_event(world.case, "documents_request_cancelled").actor == world.officer


def test_termination_keeps_the_requests_open_for_a_refund_address(world):
    due = timezone.localdate() + timedelta(days=7)
    case_documents_request(
        case=world.case, actor=world.officer, comment="where to?", items=["refund_address"], due_on=due
    )
    case_terminate(case=world.case, actor=world.lead, comment="policy")
    assert DocumentRequest.objects.get(case=world.case).status == "open"


def test_a_double_submitted_partial_release_with_its_request_key_moves_money_once(world, settings):
    base = {"case": world.case, "actor": world.officer, "comment": "part", "amount": D("10.00")}
    first = case_release(**base, request_key="form-1")
    again = case_release(**base, request_key="form-1")
    assert (first.pending, again.pending) == (False, False)
    assert balances(world.client) == (D("10.00"), D("40.00"))
    assert LedgerTransaction.objects.filter(kind="release").count() == 1
    case_release(**base, request_key="form-2")  # a new form: a new release
    assert balances(world.client) == (D("20.00"), D("30.00"))
    # above the threshold: the replay returns the pending approval, no second request
    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = D("25")
    pending = case_release(**base, request_key="form-3")
    replay = case_release(**base, request_key="form-3")
    assert pending.pending and replay.pending and replay.approval == pending.approval
    assert Approval.objects.count() == 1
    refused("invalid_request_key", case_release, **base, request_key="k" * 101)
