"""Case actions (aml.cases.actions): exact balances, statuses and audit rows after each action.

Money is real: deposits are credited into ``held`` through the deposit services
(``tests.review_helpers.held_deposit``), the case is opened by the case core, and every release is
checked on the ledger (available / held from ``payments.selectors.ledger``, and the transaction
keys). Every refusal asserts its stable code and that nothing was written.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from aml.cases.actions import (
    CASE_ACTIONS,
    case_assign,
    case_close_false_positive,
    case_documents_request,
    case_escalate,
    case_next,
    case_note_add,
    case_refund,
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
from tests.review_helpers import held_deposit, review_case

pytestmark = pytest.mark.django_db
D = Decimal


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
