"""The staff case API: the queue, a case, the case file; who sees what; bounded queries; errors."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from aml.cases.api.selectors import case_held_amounts
from aml.cases.documents import document_request_create, statement_submit
from aml.cases.models import Approval, Case, CaseEvent, DocumentRequest
from aml.cases.money import case_holds
from aml.cases.services import case_transition
from nexora.accounts.roles import ADMIN, COMPLIANCE_LEAD, COMPLIANCE_OFFICER, SUPPORT, TREASURY
from nexora.common.models import StatusChange
from payments.addresses import evm_checksum
from payments.models import LedgerTransaction, PayoutRequest
from payments.services.holds import hold_release
from payments.services.payouts import payout_approve, payout_mark_sent, payout_request, payout_verify
from tests.review_helpers import SENDER, held_deposit, review_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
CASES = "/api/v1/staff/cases/"
DOCS = "request_documents"


@pytest.fixture
def staff_api(make_staff):
    def make(role: str, *, verified: bool = True) -> APIClient:
        api = APIClient()
        user = make_staff(role, verified=verified)
        api.force_authenticate(user)
        api.user = user  # type: ignore[attr-defined]
        return api

    return make


@pytest.fixture
def network(make_network):
    return make_network("usdt-erc20")


@pytest.fixture
def held_case(make_client, network):
    client = make_client()
    deposit, _ = held_deposit(client, network)
    return review_case(client, deposit), deposit


def test_the_queue_lists_each_case_with_its_money(held_case, staff_api):
    case, _ = held_case
    response = staff_api(COMPLIANCE_OFFICER).get(CASES)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (row,) = body["results"]
    age = row.pop("age_s")
    assert 0 <= age < 60
    assert row == {
        "id": case.pk, "client": case.client_id, "status": "open", "resolution": "", "band": "review",
        "sanctions": False, "score": 70, "summary": "large first deposit from a new address",
        "held": "50.00", "currency": "USD", "opened_at": row["opened_at"], "closed_at": None,
        "assignee": None,
    }  # fmt: skip


def test_support_sees_the_queue_without_scores_or_summaries(held_case, staff_api):
    (row,) = staff_api(SUPPORT).get(CASES).json()["results"]
    assert (row["score"], row["summary"], row["held"]) == (None, None, "50.00")


def test_filters(make_client, network, staff_api):
    first, second = make_client(), make_client()
    case_a = review_case(first, held_deposit(first, network)[0])
    case_b = review_case(second, held_deposit(second, network, amount="60.00")[0], sanctions=True)
    api = staff_api(COMPLIANCE_LEAD)
    Case.objects.filter(pk=case_b.pk).update(band="freeze", assignee=api.user)
    case_transition(case_a, to="escalated", actor=api.user, reason="look")

    def ids(**query):
        response = api.get(CASES, query)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids() == [case_a.pk, case_b.pk]
    assert ids(ordering="-opened_at") == [case_b.pk, case_a.pk]
    assert ids(status="escalated") == [case_a.pk]
    assert ids(status="open,escalated") == [case_a.pk, case_b.pk]
    assert ids(status="active") == [case_a.pk, case_b.pk]
    assert ids(status="closed") == []
    assert ids(band="freeze") == [case_b.pk]
    assert ids(sanctions="true") == [case_b.pk]
    assert ids(sanctions="false") == [case_a.pk]
    assert ids(assignee="me") == [case_b.pk]
    assert ids(assignee="none") == [case_a.pk]
    assert ids(assignee=str(api.user.pk)) == [case_b.pk]
    assert ids(client=str(first.pk)) == [case_a.pk]
    assert ids(client="999999") == []
    held = {r["id"]: r["held"] for r in api.get(CASES).json()["results"]}
    assert held == {case_a.pk: "50.00", case_b.pk: "60.00"}


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({"status": "nope"}, "status", "invalid_choice"),
        ({"status": ","}, "status", "invalid_choice"),
        ({"band": "allow"}, "band", "invalid_choice"),
        ({"sanctions": "maybe"}, "sanctions", "invalid"),
        ({"assignee": "-1"}, "assignee", "invalid"),
        ({"client": "0"}, "client", "min_value"),
        ({"client": "x"}, "client", "invalid"),
        ({"ordering": "client"}, "ordering", "invalid_choice"),
    ],
)
def test_bad_filters_are_400_with_the_field(held_case, staff_api, query, field, code):
    response = staff_api(COMPLIANCE_OFFICER).get(CASES, query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert [e["code"] for e in error["fields"][field]] == [code]


def test_the_list_costs_the_same_queries_for_one_case_or_many(make_client, network, staff_api):
    api = staff_api(COMPLIANCE_OFFICER)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(CASES).status_code == 200
        return len(captured.captured_queries)

    first = make_client()
    review_case(first, held_deposit(first, network)[0])
    queries()  # the first request also loads the user's permissions
    one = queries()
    for _ in range(4):
        client = make_client()
        review_case(client, held_deposit(client, network)[0])
    assert api.get(CASES).json()["count"] == 5
    assert queries() == one
    assert one <= 8


def test_bulk_held_amounts_agree_with_the_case_holds(make_client, network, make_staff):
    officer, lead, treasury = (
        make_staff(COMPLIANCE_OFFICER),
        make_staff(COMPLIANCE_LEAD),
        make_staff(TREASURY),
    )
    cases, chains = [], []
    for n, amount in enumerate(("50.00", "80.00", "20.00"), start=1):
        client = make_client()
        deposit, chain = held_deposit(client, network, amount=amount, sender=evm_checksum(bytes([n]) * 20))
        assert deposit.hold is not None
        cases.append((review_case(client, deposit), deposit.hold))
        chains.append(chain)
    hold_release(hold=cases[0][1], amount=Decimal("15.00"), idempotency_key="part", reason="part")
    payout = payout_request(
        client=cases[1][0].client, hold=cases[1][1], amount="30.00",
        destination=evm_checksum(bytes([2]) * 20), network=network, reason="refund", actor=officer,
        reference=f"case:{cases[1][0].pk}",
    )  # fmt: skip
    payout_approve(payout=payout, actor=lead)
    # a third of the refund arrives: the failed payout puts the other 20.00 back into a new hold
    transfer = chains[1].pay(payout.destination, payout.units // 3, sender=evm_checksum(b"\xee" * 20))
    chains[1].mine(3)
    failed = payout_verify(payout=payout_mark_sent(payout=payout, actor=treasury, tx_hash=transfer.tx_hash),
                           adapter=chains[1])  # fmt: skip
    assert failed.status == "failed" and failed.return_hold is not None
    assert failed.return_hold.remaining == Decimal("20.00")
    hold_release(hold=cases[2][1], idempotency_key="all", reason="all")
    bulk = case_held_amounts([c for c, _ in cases])
    one_by_one = {
        c.pk: sum((h.remaining for h in case_holds(c) if h.status == "active"), Decimal("0.00"))
        for c, _ in cases
    }
    assert bulk == one_by_one == {cases[0][0].pk: Decimal("35.00"), cases[1][0].pk: Decimal("70.00"),
                                  cases[2][0].pk: Decimal("0.00")}  # fmt: skip
    assert case_held_amounts([]) == {}


def _worked(case, officer):
    document_request_create(
        case=case, actor=officer, items=["source_of_funds"], due_on=timezone.localdate() + timedelta(days=5),
        comment="where from?",
    )  # fmt: skip
    statement_submit(client=case.client, text="Sale of my car.", kind="contest")


def test_compliance_reads_a_case_with_everything(held_case, staff_api):
    case, deposit = held_case
    api = staff_api(COMPLIANCE_OFFICER)
    _worked(case, api.user)
    response = api.get(f"{CASES}{case.pk}/")
    assert response.status_code == 200
    data = response.json()
    assert data["case"]["id"] == case.pk and data["case"]["held"] == "50.00"
    assert data["client"] == {
        "id": case.client_id, "username": case.client.user.username, "status": "active",
        "currency": "USD", "language": case.client.language, "available": "0.00", "held": "50.00",
    }  # fmt: skip
    (assessment,) = data["assessments"]
    assert (assessment["score"], assessment["decision"], assessment["ruleset_version"]) == (70, "review", 1)
    assert [(o["rule"], o["outcome"], o["points"]) for o in assessment["outcomes"]] == [
        ("first_deposit_size", "hit", 70)
    ]
    (hold,) = data["holds"]
    assert (hold["id"], hold["amount"], hold["remaining"], hold["status"]) == (
        deposit.hold_id,
        "50.00",
        "50.00",
        "active",
    )
    (dep,) = data["deposits"]
    assert {k: dep[k] for k in ("network", "asset", "units", "asset_amount", "credited_amount", "tx_hash",
                                 "source_address", "explorer_url", "hold")} == {
        "network": "usdt-erc20", "asset": "USDT", "units": "50000000", "asset_amount": "50",
        "credited_amount": "50.00", "tx_hash": deposit.tx_hash, "source_address": SENDER,
        "explorer_url": f"https://etherscan.io/tx/{deposit.tx_hash}", "hold": deposit.hold_id,
    }  # fmt: skip
    assert data["payouts"] == []
    (request,) = data["document_requests"]
    assert (request["items"], request["status"], request["comment"]) == (
        ["source_of_funds"],
        "open",
        "where from?",
    )
    assert [(st["kind"], st["text"]) for st in data["statements"]] == [("contest", "Sale of my car.")]
    actions = [e["action"] for e in data["events"]]
    assert actions[:2] == ["opened", "assessment_added"] and "documents_requested" in actions


def test_support_reads_the_case_without_rules_or_scores(held_case, staff_api):
    case, _ = held_case
    _worked(case, staff_api(COMPLIANCE_OFFICER).user)
    response = staff_api(SUPPORT).get(f"{CASES}{case.pk}/")
    assert response.status_code == 200
    data = response.json()
    (assessment,) = data["assessments"]
    hidden = ("score", "summary", "outcomes", "ruleset_version")
    assert {k: assessment[k] for k in hidden} == dict.fromkeys(hidden)
    assert (data["case"]["score"], data["case"]["summary"]) == (None, None)
    assert data["holds"][0]["remaining"] == "50.00" and len(data["deposits"]) == 1
    text = json.dumps(data)
    for secret in ("first_deposit_size", "large first deposit", '"score": 70', "threshold"):
        assert secret not in text
    opened = next(e for e in data["events"] if e["action"] == "opened")
    assert opened["comment"] == "" and "score" not in opened["after"]


def test_unknown_case_is_404(staff_api):
    api = staff_api(COMPLIANCE_OFFICER)
    for path in (f"{CASES}999999/", f"{CASES}999999/file/"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "case_not_found"


def test_the_case_file_is_exported_and_the_export_recorded(held_case, staff_api):
    case, _ = held_case
    api = staff_api(COMPLIANCE_LEAD)
    response = api.get(f"{CASES}{case.pk}/file/")
    assert response.status_code == 200
    data = response.json()
    assert data["format"] == "nexora.case_file/1" and data["case"]["id"] == case.pk
    assert data["assessments"][0]["outcomes"][0]["rule"] == "first_deposit_size"
    event = CaseEvent.objects.filter(case=case).latest("id")
    assert (event.action, event.actor_id) == ("case_file_exported", api.user.pk)
    before = CaseEvent.objects.count()
    assert staff_api(SUPPORT).get(f"{CASES}{case.pk}/file/").status_code == 403
    assert CaseEvent.objects.count() == before


@pytest.mark.parametrize("role", [SUPPORT, COMPLIANCE_OFFICER, COMPLIANCE_LEAD, ADMIN])
def test_staff_without_a_second_factor_are_refused(held_case, staff_api, role):
    case, _ = held_case
    api = staff_api(role, verified=False)
    for path in (CASES, f"{CASES}{case.pk}/"):
        response = api.get(path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "otp_required"


def test_clients_and_anonymous_are_refused(held_case, api):
    case, _ = held_case
    assert api.get(CASES).status_code == 401
    api.force_authenticate(case.client.user)
    response = api.get(f"{CASES}{case.pk}/")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


# --- actions and approvals -----------------------------------------------------------------------


def act(api, case, name, **body):
    return api.post(f"{CASES}{case.pk}/actions/{name}/", body, format="json")


def decide(api, approval_id, **body):
    return api.post(f"/api/v1/staff/approvals/{approval_id}/decide/", body, format="json")


def written():
    return (
        CaseEvent.objects.count(),
        LedgerTransaction.objects.count(),
        StatusChange.objects.count(),
        PayoutRequest.objects.count(),
        DocumentRequest.objects.count(),
        list(Approval.objects.order_by("id").values_list("status", flat=True)),
    )


def balances(api, client):
    body = api.get(f"/api/v1/staff/clients/{client.pk}/balance/").json()
    return body["available"], body["held"]


def error(response, status):
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_a_release_through_the_api_moves_the_money_and_closes_the_case(held_case, staff_api):
    case, _ = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    response = act(officer, case, "release", comment="documents are fine")
    assert response.status_code == 200
    body = response.json()
    assert (body["pending"], body["approval"]) == (False, None)
    assert {k: body["case"][k] for k in ("id", "status", "resolution", "held")} == {
        "id": case.pk, "status": "closed", "resolution": "released", "held": "0.00",
    }  # fmt: skip
    assert balances(officer, case.client) == ("50.00", "0.00")
    event = CaseEvent.objects.filter(case=case, action="released").get()
    assert (event.actor_id, event.comment, event.amount) == (
        officer.user.pk,
        "documents are fine",
        Decimal(50),
    )
    assert error(act(officer, case, "release", comment="again"), 409)["code"] == "case_closed"


def test_a_partial_release_keeps_the_case_open(held_case, staff_api):
    case, _ = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    response = act(officer, case, "release", comment="part", amount="20.00")
    assert response.status_code == 200
    assert (response.json()["case"]["status"], response.json()["case"]["held"]) == ("open", "30.00")
    assert balances(officer, case.client) == ("20.00", "30.00")
    assert (
        error(act(officer, case, "release", comment="too much", amount="30.01"), 409)["code"]
        == "hold_exceeded"
    )


def test_four_eyes_through_the_api(held_case, staff_api, settings):
    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal("40")
    case, _ = held_case
    lead, lead2, officer = (
        staff_api(COMPLIANCE_LEAD),
        staff_api(COMPLIANCE_LEAD),
        staff_api(COMPLIANCE_OFFICER),
    )
    response = act(lead, case, "release", comment="all of it")
    assert response.status_code == 202
    body = response.json()
    approval_id = body["approval"]["id"]
    assert (body["pending"], body["case"]["status"], body["approval"]["status"]) == (
        True, "pending_approval", "pending"
    )  # fmt: skip
    assert (body["approval"]["action"], body["approval"]["params"]) == ("release", {"amount": "50.00"})
    assert balances(lead, case.client) == ("0.00", "50.00")
    queue = staff_api(SUPPORT).get("/api/v1/staff/approvals/").json()["results"]
    assert [(a["id"], a["case"], a["requested_by"]["id"]) for a in queue] == [
        (approval_id, case.pk, lead.user.pk)
    ]
    # anything else on the case waits too
    assert error(act(officer, case, "release", comment="more"), 409)["code"] == "approval_pending"

    before = written()
    assert (
        error(decide(lead, approval_id, approve=True, comment="me"), 403)["code"] == "four_eyes_same_person"
    )
    assert (
        error(decide(officer, approval_id, approve=True, comment="ok"), 403)["code"]
        == "four_eyes_lead_required"
    )
    assert error(decide(lead2, approval_id, approve=True, comment=" "), 400)["code"] == "comment_required"
    assert error(decide(lead2, approval_id, comment="ok"), 400)["fields"]["approve"][0]["code"] == "required"
    assert written() == before and balances(lead, case.client) == ("0.00", "50.00")

    response = decide(lead2, approval_id, approve=True, comment="agree")
    assert response.status_code == 200
    body = response.json()
    assert (body["pending"], body["case"]["status"], body["case"]["resolution"]) == (
        False,
        "closed",
        "released",
    )
    assert (body["approval"]["status"], body["approval"]["decided_by"]["id"]) == ("approved", lead2.user.pk)
    assert balances(lead, case.client) == ("50.00", "0.00")
    assert error(decide(lead2, approval_id, approve=True, comment="again"), 409)["code"] in {
        "approval_decided", "case_closed",
    }  # fmt: skip
    assert balances(lead, case.client) == ("50.00", "0.00")
    assert staff_api(SUPPORT).get("/api/v1/staff/approvals/").json()["results"] == []
    detail = lead.get(f"{CASES}{case.pk}/").json()
    assert [(a["id"], a["status"]) for a in detail["approvals"]] == [(approval_id, "approved")]


def test_a_rejected_approval_puts_the_case_back(held_case, staff_api):
    case, _ = held_case
    officer, lead = staff_api(COMPLIANCE_OFFICER), staff_api(COMPLIANCE_LEAD)
    Case.objects.filter(pk=case.pk).update(sanctions=True)  # any release of a sanctions case: four-eyes
    approval_id = act(officer, case, "release", comment="ok?").json()["approval"]["id"]
    response = decide(lead, approval_id, approve=False, comment="no")
    assert response.status_code == 200
    assert (response.json()["case"]["status"], response.json()["approval"]["status"]) == ("open", "rejected")
    assert balances(lead, case.client) == ("0.00", "50.00")


@pytest.mark.parametrize(
    ("name", "body", "field", "code"),
    [
        ("release", {}, "comment", "comment_required"),
        ("release", {"comment": "   "}, "comment", "comment_required"),
        ("release", {"comment": "x" * 2001}, "comment", "comment_required"),
        ("release", {"comment": "ok", "amount": "abc"}, "amount", "invalid_amount"),
        ("release", {"comment": "ok", "amount": 12.5}, "amount", "invalid_amount"),
        ("release", {"comment": "ok", "amount": "-1"}, "amount", "amount_not_positive"),
        ("release", {"comment": "ok", "amount": "1.001"}, "amount", "too_many_decimals"),
        ("release", {"comment": "ok", "items": ["identity"]}, "items", "unexpected_field"),
        ("release", {"comment": "ok", "bogus": 1}, "bogus", "unexpected_field"),
        ("note", {"comment": "ok", "amount": "1.00"}, "amount", "unexpected_field"),
        (DOCS, {"comment": "ok", "due_on": "2099-01-01"}, "items", "required"),
        (DOCS, {"comment": "ok", "items": ["identity"]}, "due_on", "required"),
        (DOCS, {"comment": "ok", "items": ["identity"], "due_on": "soon"}, "due_on", "invalid"),
        (DOCS, {"comment": "ok", "items": ["passport"], "due_on": "+5"}, "items", "invalid_items"),
        (DOCS, {"comment": "x", "items": ["identity"], "due_on": "2000-01-01"}, "due_on", "invalid_due_date"),
        ("refund", {"comment": "ok", "network": "dogecoin"}, "network", "unknown_network"),
        ("refund", {"comment": "ok", "hold": "x"}, "hold", "invalid"),
        ("assign", {"assignee": "me"}, "assignee", "invalid"),
    ],
)  # fmt: skip
def test_bad_input_is_400_and_writes_nothing(held_case, staff_api, name, body, field, code):
    case, _ = held_case
    if body.get("due_on") == "+5":
        body = {**body, "due_on": (timezone.localdate() + timedelta(days=5)).isoformat()}
    officer = staff_api(COMPLIANCE_OFFICER)
    before = written()
    found = error(act(officer, case, name, **body), 400)
    assert [e["code"] for e in found["fields"][field]] == [code], found
    assert written() == before
    assert balances(officer, case.client) == ("0.00", "50.00")


def test_a_body_that_is_not_an_object_is_400(held_case, staff_api):
    case, _ = held_case
    api = staff_api(COMPLIANCE_OFFICER)
    response = api.post(f"{CASES}{case.pk}/actions/note/", [1, 2], format="json")
    assert error(response, 400)["code"] == "malformed_request"
    response = api.post(f"{CASES}{case.pk}/actions/note/", "{", content_type="application/json")
    assert error(response, 400)["code"] == "malformed_request"


def test_unknown_things_are_404(held_case, staff_api, make_client, network):
    case, _ = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    other = make_client()
    other_deposit, _ = held_deposit(other, network, sender=evm_checksum(b"\x07" * 20))
    before = written()
    assert error(act(officer, case, "approve_everything", comment="x"), 404)["code"] == "unknown_action"
    assert (
        error(officer.post(f"{CASES}999999/actions/note/", {"comment": "x"}, format="json"), 404)["code"]
        == "case_not_found"
    )
    assert (
        error(act(officer, case, "refund", comment="x", hold=other_deposit.hold_id), 404)["code"]
        == "not_found"
    )
    lead = staff_api(COMPLIANCE_LEAD)
    for approval_id in (uuid.uuid4(), "not-a-uuid"):
        assert error(decide(lead, approval_id, approve=True, comment="x"), 404)["code"] == "not_found"
    assert written() == before


def test_who_may_act(held_case, staff_api, api):
    case, _ = held_case
    before = written()
    for role in (SUPPORT, TREASURY):
        response = act(staff_api(role), case, "release", comment="please")
        assert error(response, 403)["code"] == "permission_denied", role
    officer = staff_api(COMPLIANCE_OFFICER)
    for name in ("terminate", "unfreeze"):  # cases.decide_case
        assert error(act(officer, case, name, comment="end"), 403)["code"] == "permission_denied"
    assert error(act(api, case, "note", comment="x"), 401)["code"] == "not_authenticated"
    api.force_authenticate(case.client.user)
    assert error(act(api, case, "note", comment="x"), 403)["code"] == "permission_denied"
    unverified = staff_api(COMPLIANCE_LEAD, verified=False)
    assert error(act(unverified, case, "note", comment="x"), 403)["code"] == "otp_required"
    assert written() == before


def test_documents_assignment_escalation_and_notes(held_case, staff_api):
    case, _ = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    due = (timezone.localdate() + timedelta(days=7)).isoformat()
    response = act(
        officer, case, "request_documents", comment="source?", items=["source_of_funds"], due_on=due
    )
    assert response.status_code == 200 and response.json()["case"]["status"] == "awaiting_client"
    request = DocumentRequest.objects.get(case=case)
    assert (request.items, request.due_on.isoformat(), request.comment) == (
        ["source_of_funds"],
        due,
        "source?",
    )
    response = act(officer, case, "assign")
    assert response.json()["case"]["assignee"] == {"id": officer.user.pk, "username": officer.user.username}
    support = staff_api(SUPPORT)
    assert error(act(officer, case, "assign", assignee=support.user.pk), 400)["code"] == "invalid_assignee"
    assert act(officer, case, "escalate", comment="to a lead").json()["case"]["status"] == "escalated"
    assert error(act(officer, case, "escalate", comment="again"), 409)["code"] == "already_escalated"
    assert act(officer, case, "note", comment="called the client").status_code == 200
    actions = [e["action"] for e in officer.get(f"{CASES}{case.pk}/").json()["events"]]
    assert {"documents_requested", "assigned", "escalated", "note"} <= set(actions)
    assert balances(officer, case.client) == ("0.00", "50.00")


def test_refund_to_source_through_the_api(held_case, staff_api, make_client, network):
    case, deposit = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    response = act(officer, case, "refund", comment="not our client's money", amount="50.00")
    assert response.status_code == 200
    payout = PayoutRequest.objects.get(reference=f"case:{case.pk}")
    assert (payout.status, payout.amount, payout.destination, payout.hold_id) == (
        "requested", Decimal("50.00"), SENDER, deposit.hold_id
    )  # fmt: skip
    refunds = officer.get(f"{CASES}{case.pk}/").json()["payouts"]
    assert [(p["id"], p["status"], p["amount"]) for p in refunds] == [
        (str(payout.public_id), "requested", "50.00")
    ]
    other = make_client()
    sanctioned = review_case(other, held_deposit(other, network, sender=evm_checksum(b"\x09" * 20))[0],
                             sanctions=True)  # fmt: skip
    before = written()
    assert error(act(officer, sanctioned, "refund", comment="x"), 409)["code"] == "refund_forbidden_sanctions"
    assert written() == before


def test_an_idempotency_key_replays_the_first_answer(held_case, staff_api):
    case, _ = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    key = {"HTTP_IDEMPOTENCY_KEY": f"note-{uuid.uuid4()}"}
    url = f"{CASES}{case.pk}/actions/note/"
    first = officer.post(url, {"comment": "called"}, format="json", **key)
    again = officer.post(url, {"comment": "called"}, format="json", **key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert CaseEvent.objects.filter(case=case, action="note").count() == 1
    other = officer.post(url, {"comment": "something else"}, format="json", **key)
    assert error(other, 409)["code"] == "idempotency_key_reused"
    # a refusal is not remembered: fixed, the same key runs once
    key = {"HTTP_IDEMPOTENCY_KEY": f"release-{uuid.uuid4()}"}
    url = f"{CASES}{case.pk}/actions/release/"
    assert officer.post(url, {"comment": "part", "amount": "x"}, format="json", **key).status_code == 400
    assert officer.post(url, {"comment": "part", "amount": "x"}, format="json", **key).status_code == 400
    assert officer.post(url, {"comment": "part", "amount": "5.00"}, format="json", **key).status_code == 200
    assert officer.post(url, {"comment": "part", "amount": "5.00"}, format="json", **key).status_code == 200
    assert balances(officer, case.client) == ("5.00", "45.00")
    # keys are per person: another officer's same key is a request of their own
    other_officer = staff_api(COMPLIANCE_OFFICER)
    assert (
        other_officer.post(url, {"comment": "part", "amount": "5.00"}, format="json", **key).status_code
        == 200
    )
    assert balances(officer, case.client) == ("10.00", "40.00")


def test_a_real_session_needs_two_factor_and_a_csrf_token(held_case, make_staff):
    case, _ = held_case
    unverified = Client()
    unverified.force_login(make_staff(COMPLIANCE_OFFICER, verified=False))
    response = unverified.get(CASES)
    assert response.status_code == 403 and response.json()["error"]["code"] == "otp_required"
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_staff(COMPLIANCE_OFFICER))
    assert browser.get(f"{CASES}{case.pk}/").status_code == 200
    before = written()
    response = browser.post(
        f"{CASES}{case.pk}/actions/note/", {"comment": "x"}, content_type="application/json"
    )
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]
    assert written() == before


def test_support_sees_approvals_without_a_snoozed_rule(held_case, staff_api):
    case, _ = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    assert act(officer, case, "note", comment="reviewed").status_code == 200  # a snooze needs a review
    Case.objects.filter(pk=case.pk).update(sanctions=True)
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    snooze = {"snooze_rule": "large_amount", "snooze_until": until}
    response = act(officer, case, "close_false_positive", comment="a known payer", **snooze)
    assert response.status_code == 202, response.content
    (seen,) = staff_api(COMPLIANCE_LEAD).get("/api/v1/staff/approvals/").json()["results"]
    assert seen["params"] == {"amount": "50.00", "snooze_rule": "large_amount", "snooze_until": until}
    (hidden,) = staff_api(SUPPORT).get("/api/v1/staff/approvals/").json()["results"]
    assert hidden["params"] == {"amount": "50.00", "snooze_until": until}
    assert "large_amount" not in json.dumps(staff_api(SUPPORT).get(f"{CASES}{case.pk}/").json())


def test_a_retried_release_moves_money_once_even_without_the_replay_cache(held_case, staff_api):
    case, _ = held_case
    officer = staff_api(COMPLIANCE_OFFICER)
    key = {"HTTP_IDEMPOTENCY_KEY": f"release-{uuid.uuid4()}"}
    url = f"{CASES}{case.pk}/actions/release/"
    first = officer.post(url, {"comment": "part", "amount": "10.00"}, format="json", **key)
    assert first.status_code == 200
    cache.clear()  # the replay cache lost the key: the release service still knows it from the trail
    again = officer.post(url, {"comment": "part", "amount": "10.00"}, format="json", **key)
    assert again.status_code == 200 and again.json()["case"]["held"] == "40.00"
    assert balances(officer, case.client) == ("10.00", "40.00")
    assert CaseEvent.objects.filter(case=case, action="released").count() == 1
    body = {"comment": "part", "amount": "10.00", "request_key": "mine"}
    assert error(officer.post(url, body, format="json"), 400)["fields"]["request_key"][0]["code"] == (
        "unexpected_field"
    )
