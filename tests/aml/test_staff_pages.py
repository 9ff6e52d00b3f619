"""The staff dashboard's pages (``/staff/``): exact content for a case built with the review helpers,
the queue's filters, sorting and bounded queries, who may read and act, case files, approvals,
rule sets and network health."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aml.cases.models import Case, CaseEvent
from aml.cases.selectors import case_held, case_queue, queue_filters_parse
from aml.models import RuleSet, RuleSetEdit
from aml.rulesets import ruleset_draft_create
from nexora.accounts.models import User
from payments.models import PayoutRequest, ScanCursor
from tests.review_helpers import SENDER, held_deposit, review_case

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def web_as(user: User | None) -> Client:
    web = Client()
    if user is not None:
        web.force_login(user)
    return web


@pytest.fixture
def held(make_client: Any, make_network: Any) -> dict[str, Any]:
    network = make_network("usdt-erc20", explorer_address_url="https://etherscan.io/address/{address}")
    client = make_client(balance="10.00")
    deposit, _ = held_deposit(client, network)
    case = review_case(client, deposit)
    return {"network": network, "client": client, "deposit": deposit, "case": case}


def body(response: Any) -> str:
    return response.content.decode()


# --- permissions ------------------------------------------------------------------------------

PAGES = ["/staff/", "/staff/cases/{case}/", "/staff/approvals/", "/staff/health/", "/staff/rules/"]


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_the_login_page(held, page):
    url = page.format(case=held["case"].pk)
    response = web_as(None).get(url)
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("page", [*PAGES, "/staff/cases/{case}/file.json", "/staff/cases/{case}/file.html"])
def test_a_client_gets_403(held, page):
    response = web_as(held["client"].user).get(page.format(case=held["case"].pk))
    assert response.status_code == 403


def test_support_reads_the_case_without_rules_scores_or_files(held, make_staff):
    web = web_as(make_staff("support"))
    page = body(web.get(f"/staff/cases/{held['case'].pk}/"))
    assert "50.00 USD" in page and held["deposit"].tx_hash in page
    for secret in ("first_deposit_size", "First deposit of 50.00 USD", "large first deposit", "score"):
        assert secret not in page
    assert "file.json" not in page and "<textarea" not in page
    assert web.get(f"/staff/cases/{held['case'].pk}/file.json").status_code == 403
    queue = body(web.get("/staff/"))
    assert "large first deposit" not in queue and "Score" not in queue
    assert web.get("/staff/?sort=-score").status_code == 400
    assert web.get("/staff/rules/").status_code == 403
    assert web.get("/staff/health/").status_code == 200


def test_an_unknown_case_is_404(make_staff):
    assert web_as(make_staff("compliance_officer")).get("/staff/cases/999999/").status_code == 404


# --- the queue --------------------------------------------------------------------------------


def test_the_queue_shows_the_case_with_its_held_amount_and_age(held, make_staff):
    case = held["case"]
    Case.objects.filter(pk=case.pk).update(opened_at=timezone.now() - timedelta(hours=50))
    response = web_as(make_staff("compliance_officer")).get("/staff/")
    assert response.status_code == 200
    page = body(response)
    row = page[page.index(f'<tr data-case="{case.pk}"') :].split("</tr>")[0]
    assert 'class="over-sla-row"' in row
    assert held["client"].user.username in row
    assert "large first deposit from a new address" in row
    assert "<td>review</td>" in row and '<td class="num">70</td>' in row
    assert "50.00 USD" in row and "2d 2h" in row and "unassigned" in row
    assert "1 open case" in page


def test_the_held_figure_is_what_the_case_holds(held, make_client, make_network):
    other_client = make_client()
    deposit, _ = held_deposit(other_client, held["network"], amount="70.00", sender=SENDER)
    review_case(other_client, deposit)
    filters = queue_filters_parse({}, scores_visible=True)
    rows = {c.pk: c.held for c in case_queue(filters, user=None)}  # type: ignore[attr-defined]
    assert rows[held["case"].pk] == case_held(held["case"]) == Decimal("50.00")
    assert sorted(rows.values()) == [Decimal("50.00"), Decimal("70.00")]


def _cases(web: Client, query: str) -> list[int]:
    response = web.get(f"/staff/{query}")
    assert response.status_code == 200, body(response)
    return [int(part.split('"')[0]) for part in body(response).split('<tr data-case="')[1:]]


def test_filters_and_sorting(held, make_client, make_network, make_staff):
    officer = make_staff("compliance_officer")
    trc = make_network("usdt-trc20")
    second_client = make_client()
    deposit, _ = held_deposit(second_client, held["network"], amount="80.00")
    second = review_case(second_client, deposit, sanctions=True)
    Case.objects.filter(pk=second.pk).update(assignee=officer, band="freeze")
    Case.objects.filter(pk=held["case"].pk).update(opened_at=timezone.now() - timedelta(hours=30))
    first = held["case"].pk
    web = web_as(officer)
    assert _cases(web, "") == [first, second.pk]
    assert _cases(web, "?sort=-held") == [second.pk, first]
    assert _cases(web, "?sort=-opened") == [second.pk, first]
    assert _cases(web, "?band=freeze") == [second.pk]
    assert _cases(web, "?sanctions=yes") == [second.pk]
    assert _cases(web, "?sanctions=no") == [first]
    assert _cases(web, "?assignee=me") == [second.pk]
    assert _cases(web, "?assignee=unassigned") == [first]
    assert _cases(web, f"?assignee={officer.pk}") == [second.pk]
    assert _cases(web, "?age=24") == [first]
    assert _cases(web, "?status=escalated") == []
    assert _cases(web, "?network=usdt-erc20") == [first, second.pk]
    assert _cases(web, f"?network={trc.code}") == []


@pytest.mark.parametrize(
    "query, field",
    [("status=closed", "status"), ("band=allow", "band"), ("sanctions=maybe", "sanctions"),
     ("network=nope", "network"), ("assignee=someone", "assignee"), ("age=-1", "age"),
     ("age=abc", "age"), ("sort=client", "sort"), ("page=0", "page"), ("page=99", "page")],
)  # fmt: skip
def test_a_bad_filter_is_a_400_with_a_message(held, make_staff, query, field):
    response = web_as(make_staff("compliance_officer")).get(f"/staff/?{query}")
    assert response.status_code == 400
    assert "<code>invalid_filter</code>: " + field in body(response)
    assert 'data-case="' not in body(response)


def test_the_queue_reads_a_bounded_number_of_queries(
    held, make_client, make_staff, django_assert_max_num_queries
):
    for amount in ("60.00", "61.00", "62.00", "63.00"):
        client = make_client()
        deposit, _ = held_deposit(client, held["network"], amount=amount)
        review_case(client, deposit)
    web = web_as(make_staff("compliance_officer"))
    web.get("/staff/")  # warm the session and the permission caches of nothing in particular
    with django_assert_max_num_queries(10):  # session, user, device, perms x2, count, page, ...
        response = web.get("/staff/?sort=-held")
    assert response.status_code == 200 and body(response).count('<tr data-case="') == 5


def test_pagination_keeps_the_filters(held, make_client, make_staff, settings, monkeypatch):
    monkeypatch.setattr("aml.cases.staff_views.PAGE_SIZE", 1)
    client = make_client()
    deposit, _ = held_deposit(client, held["network"], amount="60.00")
    review_case(client, deposit)
    web = web_as(make_staff("compliance_officer"))
    page = body(web.get("/staff/?band=review"))
    assert "Page 1 of 2" in page and "?band=review&amp;page=2" in page
    assert _cases(web, "?band=review&page=2") == [Case.objects.latest("id").pk]


# --- the case page ----------------------------------------------------------------------------


def test_the_case_page_shows_everything_about_the_case(held, make_staff):
    case, deposit, client = held["case"], held["deposit"], held["client"]
    response = web_as(make_staff("compliance_officer")).get(f"/staff/cases/{case.pk}/")
    assert response.status_code == 200
    page = body(response)
    assert f"Case #{case.pk}" in page
    assert '<dd data-testid="account-status">Active</dd>' in page
    assert '<dd data-testid="kyc-level">unverified</dd>' in page
    assert '<dd data-testid="balance-available">10.00 USD</dd>' in page
    assert '<dd data-testid="balance-held">50.00 USD</dd>' in page
    assert '<strong data-testid="case-held">50.00 USD</strong>' in page
    assert "1000.00 USD" in page and "2000.00 USD" in page  # the unverified level's limits
    assert '<tr data-rule="first_deposit_size"><td><code>first_deposit_size</code></td><td>Hit</td>' in page
    assert "First deposit of 50.00 USD is above the 40.00 USD threshold." in page
    assert f'href="https://etherscan.io/tx/{deposit.tx_hash}"' in page
    assert f'href="https://etherscan.io/address/{SENDER}"' in page
    assert f"Top-up 50.00 USD ({held['network'].name})" in page
    assert '<tr data-action="opened">' in page and '<tr data-action="assessment_added">' in page
    assert 'data-testid="volume-chart"' in page and '<rect class="in"' in page
    assert f"/staff/cases/{case.pk}/file.json" in page
    assert client.user.username in page


def test_the_chart_and_timeline_include_charges(held, make_staff):
    from payments.services.charges import charge_create

    charge_create(
        client_id=held["client"].pk,
        amount=Decimal("4.00"),
        currency="USD",
        description="VPS March",
        idempotency_key="c-1",
    )
    page = body(web_as(make_staff("compliance_officer")).get(f"/staff/cases/{held['case'].pk}/"))
    assert "Charge 4.00 USD" in page and '<rect class="out"' in page
    assert "50.00 USD in, 4.00 USD out" not in page  # the title names totals without currency
    assert "50.00 in, 4.00 out" in page


# --- case files -------------------------------------------------------------------------------


def test_case_file_json_and_html_are_recorded(held, make_staff):
    officer = make_staff("compliance_officer")
    web = web_as(officer)
    case = held["case"]
    response = web.get(f"/staff/cases/{case.pk}/file.json")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="case-{case.pk}.json"'
    data = json.loads(response.content)
    assert data["case"]["id"] == case.pk and data["client"]["balance"] == {
        "available": "10.00",
        "held": "50.00",
    }
    html = web.get(f"/staff/cases/{case.pk}/file.html")
    assert html.status_code == 200 and "First deposit of 50.00 USD" in body(html)
    events = CaseEvent.objects.filter(case=case, action="case_file_exported").order_by("id")
    assert [(e.actor_id, e.after) for e in events] == [
        (officer.pk, {"format": "json"}),
        (officer.pk, {"format": "html"}),
    ]


def test_the_printable_case_file_lists_the_four_eyes_approvals(held, make_staff, settings):
    from aml.cases.actions import case_release

    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal("10")
    officer = make_staff("compliance_officer")
    result = case_release(
        case=held["case"], actor=officer, comment="documents check out", amount=Decimal("30")
    )
    assert result.pending and result.approval is not None
    page = body(web_as(officer).get(f"/staff/cases/{held['case'].pk}/file.html"))
    approvals = page[page.index("Four-eyes approvals") : page.index("Everything else")]
    assert "release" in approvals and "pending" in approvals
    assert officer.username in approvals and "documents check out" in approvals


def test_a_staff_action_is_in_the_security_log_with_ip_and_agent(held, make_staff):
    from nexora.accounts.models import SecurityEvent

    officer = make_staff("compliance_officer")
    web = Client(HTTP_USER_AGENT="reviewer-browser/1.0", REMOTE_ADDR="192.0.2.7")
    web.force_login(officer)
    case = held["case"]
    response = web.post(f"/staff/cases/{case.pk}/actions/note/", {"comment": "called the client"})
    assert response.status_code == 302
    events = SecurityEvent.objects.filter(user=officer, kind="staff_action")
    assert [(e.detail, e.ip, e.user_agent) for e in events] == [
        (f"case #{case.pk}: note", "192.0.2.7", "reviewer-browser/1.0")
    ]
    refused = web.post(f"/staff/cases/{case.pk}/actions/note/", {"comment": " "})
    assert refused.status_code == 400 and events.count() == 1  # a refused action logs nothing


# --- approvals: refunds -----------------------------------------------------------------------


def _payout(held: dict[str, Any], officer: User) -> PayoutRequest:
    from payments.services.payouts import payout_request

    return payout_request(
        client=held["client"], hold=held["deposit"].hold, amount="20.00", destination=SENDER,
        network=held["network"], reason="refund to source", actor=officer,
        reference=f"case:{held['case'].pk}",
    )  # fmt: skip


def test_a_lead_approves_a_refund_requested_by_an_officer(held, make_staff):
    officer, lead = make_staff("compliance_officer"), make_staff("compliance_lead")
    payout = _payout(held, officer)
    page = body(web_as(lead).get("/staff/approvals/"))
    assert f'<tr data-payout="{payout.public_id}">' in page and "refund to source" in page
    assert "Your own request" in body(web_as(officer).get("/staff/approvals/"))
    url = f"/staff/approvals/payouts/{payout.public_id}/approve/"
    refused = web_as(lead).post(url, {"comment": "  "})
    assert refused.status_code == 400 and "<code>comment_required</code>" in body(refused)
    payout.refresh_from_db()
    assert payout.status == "requested"
    assert web_as(officer).post(url, {"comment": "mine"}).status_code == 403
    done = web_as(lead).post(url, {"comment": "source checked"})
    assert done.status_code == 302 and done["Location"] == "/staff/approvals/"
    payout.refresh_from_db()
    assert (payout.status, payout.approved_by_id, payout.decided_reason) == (
        "approved",
        lead.pk,
        "source checked",
    )


def test_a_lead_cannot_approve_their_own_refund(held, make_staff):
    lead = make_staff("compliance_lead")
    payout = _payout(held, lead)
    response = web_as(lead).post(f"/staff/approvals/payouts/{payout.public_id}/approve/", {"comment": "me"})
    assert response.status_code == 403 and "<code>four_eyes_same_person</code>" in body(response)
    payout.refresh_from_db()
    assert payout.status == "requested"


# --- rule sets --------------------------------------------------------------------------------


def test_rule_sets_draft_edit_diff_backtest_publish(held, make_staff):
    officer, lead = make_staff("compliance_officer"), make_staff("compliance_lead")
    web = web_as(officer)
    created = web.post("/staff/rules/new/")
    draft = RuleSet.objects.get(status="draft")
    assert created["Location"] == f"/staff/rules/{draft.version}/"
    page = body(web.get(created["Location"]))
    assert "No change yet." in page and 'name="p:rules.velocity.points" value="25"' in page
    form = {f"p:{k}": v for k, v in _form_values(page).items()}
    form["p:rules.velocity.points"] = "30"
    assert web.post(f"/staff/rules/{draft.version}/edit/", form).status_code == 302
    draft.refresh_from_db()
    assert draft.params["rules"]["velocity"]["points"] == 30
    assert [e.changes for e in RuleSetEdit.objects.filter(ruleset=draft)] == [
        [{"path": "rules.velocity.points", "before": 25, "after": 30}]
    ]
    page = body(web.get(f"/staff/rules/{draft.version}/"))
    assert '<td><code>rules.velocity.points</code></td><td class="diff-before">25</td>' in page
    form["p:rules.velocity.points"] = "lots"
    bad = web.post(f"/staff/rules/{draft.version}/edit/", form)
    assert bad.status_code == 400 and "<code>invalid_ruleset</code>" in body(bad)
    assert RuleSetEdit.objects.filter(ruleset=draft).count() == 1
    report = web.post(f"/staff/rules/{draft.version}/backtest/", {"days": "30"})
    assert report.status_code == 200 and 'data-testid="backtest"' in body(report)
    section = body(report).split('data-testid="backtest"')[1].split("</section>")[0]
    assert "1 subjects re-scored; 0 decisions would change (0 stricter, 0 softer)." in section
    assert web.post(f"/staff/rules/{draft.version}/backtest/", {"days": "0"}).status_code == 400
    assert web.post(f"/staff/rules/{draft.version}/publish/").status_code == 403
    published = web_as(lead).post(f"/staff/rules/{draft.version}/publish/")
    assert published.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.published_by_id) == ("published", lead.pk)


def test_the_author_lead_cannot_publish_their_draft(held, make_staff):
    lead = make_staff("compliance_lead")
    draft = ruleset_draft_create(actor=lead)
    response = web_as(lead).post(f"/staff/rules/{draft.version}/publish/")
    assert response.status_code == 403 and "<code>four_eyes_required</code>" in body(response)
    draft.refresh_from_db()
    assert draft.status == "draft"


def _form_values(page: str) -> dict[str, str]:
    values = {}
    for chunk in page.split('name="p:')[1:]:
        name, rest = chunk.split('"', 1)
        tag = rest.split(">", 1)[0]
        if 'type="checkbox"' in page.split(f'name="p:{name}"')[0][-80:]:
            if " checked" in tag:
                values[name] = "on"
        elif 'value="' in tag:
            values[name] = tag.split('value="', 1)[1].split('"', 1)[0]
    return values


# --- network health ---------------------------------------------------------------------------


def test_network_health_shows_head_cursor_lag_and_errors(held, make_staff):
    now = timezone.now()
    ScanCursor.objects.create(
        network=held["network"], height=100, head=110, block_hash="0xabc", last_scan_at=now,
        last_success_at=now - timedelta(seconds=20), error_count=2, consecutive_errors=1,
        last_error="node timed out", last_error_at=now,
    )  # fmt: skip
    page = body(web_as(make_staff("support")).get("/staff/health/"))
    row = page[page.index('<tr data-network="usdt-erc20">') :].split("</tr>")[0]
    assert '<td class="num">110</td>' in row and '<td class="num">100</td>' in row
    assert '<td class="num">10</td>' in row and "node timed out" in row and "1 / 2" in row


# --- actions ----------------------------------------------------------------------------------


def _balance(client: Any) -> tuple[Decimal, Decimal]:
    from payments.selectors.ledger import balance_get

    b = balance_get(client=client)
    return b.available, b.held


def test_an_officer_releases_the_case_with_a_comment(held, make_staff):
    officer, case = make_staff("compliance_officer"), held["case"]
    web = web_as(officer)
    page = body(web.get(f"/staff/cases/{case.pk}/"))
    forms = [chunk.split('"')[0] for chunk in page.split('data-action-form="')[1:]]
    assert forms == [
        "assign",
        "note",
        "release",
        "request_documents",
        "refund",
        "escalate",
        "close_false_positive",
    ]
    response = web.post(
        f"/staff/cases/{case.pk}/actions/release/", {"comment": "source is the client's wallet"}
    )
    assert response.status_code == 302 and response["Location"] == f"/staff/cases/{case.pk}/"
    assert _balance(held["client"]) == (Decimal("60.00"), Decimal("0.00"))
    case.refresh_from_db()
    assert (case.status, case.resolution) == ("closed", "released")
    event = CaseEvent.objects.get(case=case, action="released")
    assert (event.actor_id, event.comment, event.amount) == (
        officer.pk,
        "source is the client's wallet",
        Decimal("50.00"),
    )
    after = body(web.get(f"/staff/cases/{case.pk}/"))
    assert "The money is released." in after and 'data-testid="actions"' not in after


@pytest.mark.parametrize(
    "name, form, status, code",
    [("release", {"comment": " "}, 400, "comment_required"),
     ("release", {"comment": "part", "amount": "abc"}, 400, "invalid_amount"),
     ("release", {"comment": "too much", "amount": "51.00"}, 409, None),
     ("request_documents", {"comment": "ask", "items": ["identity"], "due_on": "soon"}, 400, "invalid_date"),
     ("request_documents", {"comment": "ask", "items": ["source_of_funds"]}, 400, "due_date_required"),
     ("refund", {"comment": "back", "hold": "999999"}, 400, "unknown_hold"),
     ("unfreeze", {"comment": "not mine to do"}, 403, "permission_denied")],
)  # fmt: skip
def test_a_refused_action_shows_its_error_and_writes_nothing(held, make_staff, name, form, status, code):
    case = held["case"]
    events = CaseEvent.objects.filter(case=case).count()
    response = web_as(make_staff("compliance_officer")).post(f"/staff/cases/{case.pk}/actions/{name}/", form)
    assert response.status_code == status, body(response)
    page = body(response)
    marker = 'data-testid="action-error">' if f'data-action-form="{name}"' in page else 'data-testid="error">'
    error = page.split(marker)[1].split("</p>")[0]
    assert page.count('data-testid="action-error"') + page.count('data-testid="error"') == 1
    if code is not None:
        assert error.startswith(f"<code>{code}</code>: ")
    assert CaseEvent.objects.filter(case=case).count() == events
    assert _balance(held["client"]) == (Decimal("10.00"), Decimal("50.00"))
    case.refresh_from_db()
    assert case.status == "open"


def test_support_cannot_act_and_an_unknown_action_is_404(held, make_staff):
    case = held["case"]
    support = web_as(make_staff("support"))
    response = support.post(f"/staff/cases/{case.pk}/actions/release/", {"comment": "let it go"})
    assert response.status_code == 403 and "<code>permission_denied</code>" in body(response)
    assert _balance(held["client"]) == (Decimal("10.00"), Decimal("50.00"))
    assert support.post("/staff/next/").status_code == 403
    officer = web_as(make_staff("compliance_officer"))
    assert officer.post(f"/staff/cases/{case.pk}/actions/delete/", {"comment": "x"}).status_code == 404
    assert officer.get(f"/staff/cases/{case.pk}/actions/release/").status_code == 405


def test_a_lead_sees_the_decide_actions(held, make_staff):
    page = body(web_as(make_staff("compliance_lead")).get(f"/staff/cases/{held['case'].pk}/"))
    assert 'data-action-form="unfreeze"' in page and 'data-action-form="terminate"' in page


def test_assign_to_me_from_the_queue_and_next_case(held, make_client, make_staff):
    officer = make_staff("compliance_officer")
    web = web_as(officer)
    case = held["case"]
    assigned = web.post(f"/staff/cases/{case.pk}/actions/assign/", {"next": "queue"})
    assert assigned.status_code == 302 and assigned["Location"] == "/staff/"
    case.refresh_from_db()
    assert case.assignee_id == officer.pk
    assert _cases(web, "?assignee=me") == [case.pk]
    client = make_client()
    deposit, _ = held_deposit(client, held["network"], amount="60.00")
    second = review_case(client, deposit)
    other = web_as(make_staff("compliance_officer"))
    nxt = other.post("/staff/next/")
    assert nxt.status_code == 302 and nxt["Location"] == f"/staff/cases/{second.pk}/"
    empty = other.post("/staff/next/")
    assert empty["Location"] in ("/staff/", f"/staff/cases/{second.pk}/")


def test_documents_are_requested_from_the_case_page(held, make_staff):
    from aml.cases.models import DocumentRequest

    case = held["case"]
    due = (timezone.localdate() + timedelta(days=7)).isoformat()
    form = {"comment": "where from?", "items": ["source_of_funds", "payment_purpose"], "due_on": due}
    response = web_as(make_staff("compliance_officer")).post(
        f"/staff/cases/{case.pk}/actions/request_documents/", form
    )
    assert response.status_code == 302
    request = DocumentRequest.objects.get(case=case)
    assert (request.items, request.due_on.isoformat()) == (["source_of_funds", "payment_purpose"], due)


def test_a_large_release_waits_for_a_second_lead(held, make_staff, settings):
    from aml.cases.approval_models import Approval

    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal("20")
    officer, lead = make_staff("compliance_officer"), make_staff("compliance_lead")
    case = held["case"]
    officer_web = web_as(officer)
    response = officer_web.post(f"/staff/cases/{case.pk}/actions/release/", {"comment": "checked"})
    assert response.status_code == 302
    approval = Approval.objects.get(case=case)
    assert (approval.status, approval.action, approval.params["amount"]) == ("pending", "release", "50.00")
    assert _balance(held["client"]) == (Decimal("10.00"), Decimal("50.00"))
    case_page = body(officer_web.get(f"/staff/cases/{case.pk}/"))
    assert "It waits for a second, different compliance lead" in case_page
    assert "requested by " + officer.username in case_page
    page = body(web_as(lead).get("/staff/approvals/"))
    assert f'<tr data-approval="{approval.public_id}">' in page and "checked" in page
    url = f"/staff/approvals/{approval.public_id}/"
    refused = web_as(officer).post(url, {"decision": "approve", "comment": "me too"})
    assert refused.status_code == 403
    bad = web_as(lead).post(url, {"decision": "maybe", "comment": "hm"})
    assert bad.status_code == 400 and "<code>invalid_decision</code>" in body(bad)
    done = web_as(lead).post(url, {"decision": "approve", "comment": "agreed"})
    assert done.status_code == 302 and done["Location"] == "/staff/approvals/"
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by_id, approval.decided_comment) == (
        "approved",
        lead.pk,
        "agreed",
    )
    assert _balance(held["client"]) == (Decimal("60.00"), Decimal("0.00"))
    again = web_as(lead).post(url, {"decision": "approve", "comment": "twice"})
    assert again.status_code == 409


def test_a_lead_cannot_approve_their_own_release(held, make_staff, settings):
    from aml.cases.approval_models import Approval

    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal("20")
    lead = make_staff("compliance_lead")
    web = web_as(lead)
    web.post(f"/staff/cases/{held['case'].pk}/actions/release/", {"comment": "mine"})
    approval = Approval.objects.get()
    assert "Your own request: another lead decides." in body(web.get("/staff/approvals/"))
    response = web.post(f"/staff/approvals/{approval.public_id}/", {"decision": "approve", "comment": "ok"})
    assert response.status_code == 403 and "<code>four_eyes_same_person</code>" in body(response)
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_the_held_figure_follows_releases_and_failed_refunds(make_client, make_network, make_staff):
    from aml.cases.actions import case_release
    from payments.services.payouts import payout_approve, payout_mark_sent, payout_request, payout_verify

    network = make_network("usdt-erc20")
    client = make_client()
    deposit, chain = held_deposit(client, network)
    case = review_case(client, deposit)
    officer, lead, treasury = (
        make_staff("compliance_officer"),
        make_staff("compliance_lead"),
        make_staff("treasury"),
    )
    filters = queue_filters_parse({}, scores_visible=True)

    def queued() -> Decimal:
        return case_queue(filters, user=None).get(pk=case.pk).held  # type: ignore[attr-defined]

    case_release(case=case, actor=officer, comment="part", amount=Decimal("5.00"))
    assert queued() == case_held(case) == Decimal("45.00")
    assert deposit.hold is not None
    payout = payout_request(
        client=client, hold=deposit.hold, amount="40.00", destination=SENDER, network=network,
        reason="refund", actor=officer, reference=f"case:{case.pk}",
    )  # fmt: skip
    payout = payout_approve(payout=payout, actor=lead, comment="ok")
    assert queued() == case_held(case) == Decimal("5.00")
    sent = chain.pay(SENDER, payout.units // 4, sender="0x000000000000000000000000000000000000dEaD")
    chain.mine(3)
    payout = payout_verify(
        payout=payout_mark_sent(payout=payout, actor=treasury, tx_hash=sent.tx_hash), adapter=chain
    )
    assert payout.status == "failed" and payout.return_hold is not None
    assert queued() == case_held(case) == Decimal("35.00")  # 5 never refunded + 30 that did not leave


def test_the_case_page_reads_a_bounded_number_of_queries(held, make_staff, django_assert_max_num_queries):
    from aml.cases.actions import case_note_add

    officer = make_staff("compliance_officer")
    web = web_as(officer)
    web.get(f"/staff/cases/{held['case'].pk}/")
    with django_assert_max_num_queries(40) as few:  # 35 today: a fixed number, whatever the rows
        web.get(f"/staff/cases/{held['case'].pk}/")
    for i in range(10):
        case_note_add(case=held["case"], actor=officer, comment=f"note {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = web.get(f"/staff/cases/{held['case'].pk}/")
    assert body(response).count('<tr data-action="note">') == 10


def test_documents_and_statements_are_for_compliance_only(held, make_staff, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from aml.cases.documents import document_request_create, document_upload, statement_submit

    settings.MEDIA_ROOT = str(tmp_path)
    case, client = held["case"], held["client"]
    officer = make_staff("compliance_officer")
    request = document_request_create(
        case=case, actor=officer, items=["source_of_funds"], due_on=timezone.localdate() + timedelta(days=5),
        comment="ask",
    )  # fmt: skip
    pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    document = document_upload(request=request, client=client, file=SimpleUploadedFile("proof.pdf", pdf))
    statement_submit(client=client, text="Sale of my car.", kind="contest")
    page = body(web_as(officer).get(f"/staff/cases/{case.pk}/"))
    assert f'<a href="/review/documents/{document.public_id}/">proof.pdf</a>' in page
    assert "<p>Sale of my car.</p>" in page and "source_of_funds — due" in page
    support_page = body(web_as(make_staff("support")).get(f"/staff/cases/{case.pk}/"))
    assert "proof.pdf" not in support_page and "Sale of my car." not in support_page
    assert "source_of_funds — due" in support_page  # that documents were asked is not a reason


def test_support_reads_approvals_without_forms(held, make_staff):
    payout = _payout(held, make_staff("compliance_officer"))
    page = body(web_as(make_staff("support")).get("/staff/approvals/"))
    assert f'<tr data-payout="{payout.public_id}">' in page and "<textarea" not in page
    assert "A compliance lead decides." in page and "refund to source" not in page


def test_a_case_awaiting_approval_offers_only_notes_and_assignment(held, make_staff, settings):
    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal("20")
    web = web_as(make_staff("compliance_officer"))
    web.post(f"/staff/cases/{held['case'].pk}/actions/release/", {"comment": "big"})
    page = body(web.get(f"/staff/cases/{held['case'].pk}/"))
    assert [chunk.split('"')[0] for chunk in page.split('data-action-form="')[1:]] == ["assign", "note"]
    refused = web.post(f"/staff/cases/{held['case'].pk}/actions/escalate/", {"comment": "up"})
    assert refused.status_code == 409 and "<code>approval_pending</code>" in body(refused)


def test_the_requester_withdraws_a_pending_release(held, make_staff, settings):
    from aml.cases.approval_models import Approval

    settings.NEXORA_FOUR_EYES_RELEASE_ABOVE = Decimal("20")
    officer = make_staff("compliance_officer")
    web = web_as(officer)
    web.post(f"/staff/cases/{held['case'].pk}/actions/release/", {"comment": "big"})
    approval = Approval.objects.get()
    page = body(web.get("/staff/approvals/"))
    assert 'value="withdraw"' in page and 'value="approve"' not in page
    url = f"/staff/approvals/{approval.public_id}/"
    assert web.post(url, {"decision": "approve", "comment": "self"}).status_code == 403
    done = web.post(url, {"decision": "withdraw", "comment": "wrong amount"})
    assert done.status_code == 302
    approval.refresh_from_db()
    held["case"].refresh_from_db()
    assert (approval.status, held["case"].status) == ("cancelled", "open")
    assert _balance(held["client"]) == (Decimal("10.00"), Decimal("50.00"))
    other = web_as(make_staff("compliance_officer"))
    web.post(f"/staff/cases/{held['case'].pk}/actions/release/", {"comment": "again"})
    second = Approval.objects.get(status="pending")
    refused = other.post(
        f"/staff/approvals/{second.public_id}/", {"decision": "withdraw", "comment": "not mine"}
    )
    assert refused.status_code == 403 and "<code>permission_denied</code>" in body(refused)


def test_the_staff_nav_links_every_page(make_staff):
    page = body(web_as(make_staff("compliance_lead")).get("/staff/health/"))
    nav = page.split('<nav class="staff-nav"')[1].split("</nav>")[0]
    links = [("/staff/", "Queue"), ("/staff/approvals/", "Approvals"), ("/staff/rules/", "Rules"),
             ("/staff/health/", "Health"), ("/staff/privacy/erasures/", "Erasure requests")]  # fmt: skip
    for href, label in links:
        assert f'<a href="{href}"' in nav and f">{label}</a>" in nav
    assert '<a href="/staff/health/" aria-current="page">Health</a>' in nav


def test_a_double_submitted_release_form_releases_once(held, make_staff):
    web = web_as(make_staff("compliance_officer"))
    page = body(web.get(f"/staff/cases/{held['case'].pk}/"))
    key = page.split('name="request_key" value="')[1].split('"')[0]
    form = {"comment": "part of it", "amount": "20.00", "request_key": key}
    for _ in range(2):
        assert web.post(f"/staff/cases/{held['case'].pk}/actions/release/", form).status_code == 302
    assert _balance(held["client"]) == (Decimal("30.00"), Decimal("30.00"))
    assert CaseEvent.objects.filter(case=held["case"], action="released").count() == 1
