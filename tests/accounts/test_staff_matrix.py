"""The permission matrix of every staff page and staff API route, for every kind of principal.

The routes are not listed by hand: they are discovered by walking the URL resolver for every path
under ``/staff/`` (the dashboard and the privacy staff pages), ``/api/v1/staff/`` and
``/treasury/``. Each one must have a row in ``EXPECTED`` giving the exact status of a GET for each
principal (anonymous, a client, and each staff role with a verified second factor); a new route
without a row fails ``test_get`` and ``test_every_staff_route_has_a_row``, and a row whose route
is gone fails the latter too. Rows flagged ``post`` are the routes that act (execute, approve,
record, case actions): a POST by anonymous, a client or support must be refused and write nothing.
For the other rows, an admin's POST must answer 405 (so a route that starts accepting POST cannot
hide behind a missing flag).

Requests go through the whole stack with a real session (``force_login`` of a user carrying a
verified device), so the two-factor middleware, the page decorators and DRF's permissions all run.
Anonymous visitors of a page are sent to the login page (302); of the API, 401.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from aml.cases.actions import case_release
from aml.cases.models import Approval, CaseEvent
from aml.models import RuleSet
from nexora.accounts.roles import ADMIN, ALL_ROLES, COMPLIANCE_LEAD, COMPLIANCE_OFFICER, SUPPORT, TREASURY
from nexora.common.models import StatusChange
from nexora.privacy.services.erasure import erasure_request_create
from payments.models import LedgerTransaction, PayoutRequest
from tests.review_helpers import OTHER, held_deposit, review_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PREFIXES = ("/staff/", "/api/v1/staff/", "/treasury/")
PRINCIPALS = ("anonymous", "client", *ALL_ROLES)
READERS = (SUPPORT, COMPLIANCE_OFFICER, COMPLIANCE_LEAD, ADMIN)  # the dashboard's read-only floor
COMPLIANCE = (COMPLIANCE_OFFICER, COMPLIANCE_LEAD, ADMIN)
LEADS = (COMPLIANCE_LEAD, ADMIN)
PAYING = (TREASURY, ADMIN)


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def staff_routes() -> list[str]:
    """Every route of the URLconf under the staff prefixes, as ``/path/<int:pk>/`` patterns."""
    return sorted(
        {f"/{route}" for route in _walk(get_resolver().url_patterns) if f"/{route}".startswith(PREFIXES)}
    )


# --- the expected table ------------------------------------------------------------------------


def api(status: int = 200, *roles: str) -> dict[str, int]:
    """A staff API route: 401 anonymous, 403 everyone not in ``roles``, ``status`` for ``roles``."""
    return {"anonymous": 401, "client": 403, **dict.fromkeys(ALL_ROLES, 403), **dict.fromkeys(roles, status)}


def page(status: int = 200, *roles: str) -> dict[str, int]:
    """A staff page: anonymous visitors go to the login page, everyone not in ``roles`` gets 403."""
    return {"anonymous": 302, "client": 403, **dict.fromkeys(ALL_ROLES, 403), **dict.fromkeys(roles, status)}


@dataclass(frozen=True)
class Row:
    get: dict[str, int]
    post: bool = False  # the route acts: anonymous, clients and support must be refused a POST
    args: dict[str, str] = field(default_factory=dict)  # route parameter -> World attribute
    query: str = ""  # appended to the GET, with World attributes in braces
    body: dict[str, Any] = field(default_factory=dict)  # of the refused POSTs


CASE = {"case_id": "case"}
EXPECTED: dict[str, Row] = {
    # the staff dashboard (aml.cases.staff_urls)
    "/staff/": Row(page(200, *READERS)),
    "/staff/next/": Row(page(405, *COMPLIANCE), post=True),
    "/staff/cases/<int:case_id>/": Row(page(200, *READERS), args=CASE),
    "/staff/cases/<int:case_id>/actions/<str:name>/": Row(
        page(405, *READERS), post=True, args={**CASE, "name": "action"}, body={"comment": "matrix"}
    ),
    "/staff/cases/<int:case_id>/file.json": Row(page(200, *COMPLIANCE), args=CASE),
    "/staff/cases/<int:case_id>/file.html": Row(page(200, *COMPLIANCE), args=CASE),
    "/staff/approvals/": Row(page(200, *READERS)),
    "/staff/approvals/<str:approval_id>/": Row(
        page(405, *COMPLIANCE),
        post=True,
        args={"approval_id": "approval"},
        body={"decision": "approve", "comment": "matrix"},
    ),
    "/staff/approvals/payouts/<str:payout_id>/<str:decision>/": Row(
        page(405, *LEADS),
        post=True,
        args={"payout_id": "payout", "decision": "decision"},
        body={"comment": "ok"},
    ),
    "/staff/health/": Row(page(200, *READERS)),
    "/staff/rules/": Row(page(200, *COMPLIANCE)),
    "/staff/rules/new/": Row(page(405, *COMPLIANCE), post=True),
    "/staff/rules/<int:version>/": Row(page(200, *COMPLIANCE), args={"version": "ruleset"}),
    "/staff/rules/<int:version>/edit/": Row(page(405, *COMPLIANCE), post=True, args={"version": "ruleset"}),
    "/staff/rules/<int:version>/backtest/": Row(
        page(405, *COMPLIANCE), post=True, args={"version": "ruleset"}
    ),
    "/staff/rules/<int:version>/publish/": Row(page(405, *LEADS), post=True, args={"version": "ruleset"}),
    # AML and payments staff API
    "/api/v1/staff/assessments/": Row(api(200, *COMPLIANCE), query="client={client}"),
    "/api/v1/staff/networks/health/": Row(api(200, *READERS)),
    "/api/v1/staff/clients/<int:pk>/balance/": Row(api(200, *READERS), args={"pk": "client"}),
    # the case API
    "/api/v1/staff/cases/": Row(api(200, *READERS)),
    "/api/v1/staff/cases/<int:pk>/": Row(api(200, *READERS), args={"pk": "case"}),
    "/api/v1/staff/cases/<int:pk>/file/": Row(api(200, *COMPLIANCE), args={"pk": "case"}),
    "/api/v1/staff/cases/<int:pk>/actions/<str:name>/": Row(
        api(405, *READERS), post=True, args={"pk": "case", "name": "action"}, body={"comment": "matrix"}
    ),
    "/api/v1/staff/approvals/": Row(api(200, *READERS)),
    "/api/v1/staff/approvals/<str:public_id>/decide/": Row(
        api(405, *READERS), post=True, args={"public_id": "approval"}, body={"approve": True, "comment": "ok"}
    ),
    # the privacy staff pages
    "/staff/privacy/erasures/": Row(page(200, *READERS)),
    "/staff/privacy/erasures/<int:pk>/": Row(page(200, *READERS), args={"pk": "erasure"}),
    "/staff/privacy/erasures/<int:pk>/execute/": Row(page(405, *LEADS), post=True, args={"pk": "erasure"}),
    "/staff/privacy/erasures/<int:pk>/refuse/": Row(page(405, *LEADS), post=True, args={"pk": "erasure"}),
    # the treasury
    "/treasury/payouts/": Row(page(200, *PAYING)),
    "/treasury/payouts.csv": Row(page(200, *PAYING)),
    "/treasury/payouts/<str:payout_id>/sent/": Row(
        page(405, *PAYING), post=True, args={"payout_id": "payout"}, body={"tx_hash": "0x" + "ab" * 32}
    ),
}


# --- the world the routes are called in ---------------------------------------------------------


@dataclass
class World:
    client: int
    case: int
    approval: str  # a pending release of another (sanctions) case
    erasure: int
    payout: str
    ruleset: int  # the published rule set's version
    action: str = "note"
    decision: str = "approve"


@pytest.fixture
def world(make_client, make_network, make_staff) -> World:
    network, client, other = make_network("usdt-erc20"), make_client(), make_client()
    case = review_case(client, held_deposit(client, network)[0])
    sanctioned = review_case(other, held_deposit(other, network, sender=OTHER)[0], sanctions=True)
    approval = case_release(case=sanctioned, actor=make_staff(COMPLIANCE_OFFICER), comment="clean").approval
    assert approval is not None
    erasure = erasure_request_create(client=make_client())
    version = RuleSet.objects.get(status="published").version
    return World(client=client.pk, case=case.pk, approval=str(approval.public_id), erasure=erasure.pk,
                 payout=str(uuid.uuid4()), ruleset=version)  # fmt: skip


@pytest.fixture
def browser(make_client, make_staff) -> Callable[[str], Client]:
    def make(principal: str) -> Client:
        browser = Client()
        if principal == "client":
            browser.force_login(make_client().user)
        elif principal != "anonymous":
            browser.force_login(make_staff(principal))
        return browser

    return make


def _url(route: str, row: Row, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in row.args:
            pytest.fail(f"{route}: say in EXPECTED which World attribute fills <{name}>")
        return str(getattr(world, row.args[name]))

    path = re.sub(r"<(?:\w+:)?(\w+)>", value, route)
    return f"{path}?{row.query.format(**vars(world))}" if row.query else path


def _row(route: str) -> Row:
    row = EXPECTED.get(route)
    if row is None:
        pytest.fail(f"{route} has no row in EXPECTED: add its expected status per principal")
    return row


def _written() -> dict[str, int]:
    return {
        "case_events": CaseEvent.objects.count(),
        "ledger": LedgerTransaction.objects.count(),
        "payouts": PayoutRequest.objects.count(),
        "status_changes": StatusChange.objects.count(),
        "approvals": Approval.objects.filter(status="pending").count(),
        "rulesets": RuleSet.objects.count(),
    }


def test_every_staff_route_has_a_row():
    routes = set(staff_routes())
    assert sorted(routes - set(EXPECTED)) == [], "routes without a row in EXPECTED"
    assert sorted(set(EXPECTED) - routes) == [], "rows of EXPECTED whose route is gone"
    assert {route for route in routes if route.startswith("/staff/privacy/")}, "the privacy pages were found"


@pytest.mark.parametrize("route", staff_routes())
def test_get(route, world, browser):
    """Each principal's exact status; compared as one table so a failure shows every difference."""
    row = _row(route)
    url = _url(route, row, world)
    answers = {principal: browser(principal).get(url) for principal in PRINCIPALS}
    assert {p: r.status_code for p, r in answers.items()} == row.get, route
    for principal, response in answers.items():
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/"), (route, principal)
        if route.startswith("/api/") and response.status_code in (401, 403):
            code = response.json()["error"]["code"]
            assert code in {"not_authenticated", "permission_denied"}, (route, principal, code)


POST_ROUTES = [route for route in staff_routes() if EXPECTED.get(route, Row({})).post]
REFUSED_POST = {"anonymous": {"page": 302, "api": 401}, "client": {"page": 403, "api": 403},
                SUPPORT: {"page": 403, "api": 403}}  # fmt: skip


@pytest.mark.parametrize("route", POST_ROUTES)
def test_post_is_refused(route, world, browser):
    row = _row(route)
    kind = "api" if route.startswith("/api/") else "page"
    url, before = _url(route, row, world), _written()
    statuses = {}
    for principal in REFUSED_POST:
        if kind == "api":
            response = browser(principal).post(url, row.body, content_type="application/json")
        else:
            response = browser(principal).post(url, row.body)
        statuses[principal] = response.status_code
    assert statuses == {principal: kinds[kind] for principal, kinds in REFUSED_POST.items()}, route
    assert _written() == before


@pytest.mark.parametrize("route", [r for r in staff_routes() if not EXPECTED.get(r, Row({}, post=True)).post])
def test_routes_that_only_read_refuse_post(route, world, browser):
    row = _row(route)
    response = browser(ADMIN).post(_url(route, row, world), {})
    assert response.status_code == 405, (route, "accepts POST: flag its row post=True")
