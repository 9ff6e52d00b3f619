"""The staff case API: the queue, a case, the case file; who sees what; bounded queries; errors."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from aml.cases.api.selectors import case_held_amounts
from aml.cases.documents import document_request_create, statement_submit
from aml.cases.models import Case, CaseEvent
from aml.cases.money import case_holds
from aml.cases.services import case_transition
from nexora.accounts.roles import ADMIN, COMPLIANCE_LEAD, COMPLIANCE_OFFICER, SUPPORT, TREASURY
from payments.addresses import evm_checksum
from payments.services.holds import hold_release
from payments.services.payouts import payout_approve, payout_mark_sent, payout_request, payout_verify
from tests.review_helpers import SENDER, held_deposit, review_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
CASES = "/api/v1/staff/cases/"


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
