"""Property-based fuzzing of every /api/v1/ operation against the project's own OpenAPI schema.

The schema is fetched from the WSGI app itself (``/api/schema/``), so the test checks the schema
that is served, not a copy. Schemathesis turns each operation into one pytest item and, with
Hypothesis, generates positive (schema-valid) and negative (schema-violating) requests, plus its
coverage cases (boundary values, unsupported methods). Every response must pass four checks: no
5xx, a documented status code, a documented content type, and a body matching the documented
schema. There are no exclusions.

Design:

* Requests run in-process through the WSGI app on the test's own thread and database connection.
  The test uses ``django_db(transaction=True)``: requests commit for real, so ``on_commit``
  callbacks (the eager tx-lookup task) run and a database error in one request cannot poison a
  wrapping test transaction for the next; the tables are flushed after each operation's item.
* Each request carries the credential its operation accepts: the billing API key for charges, a
  compliance officer's session that passed two-factor authentication for the staff endpoint (a
  token never opens a staff endpoint), the client's token elsewhere. Schemathesis's
  negative mode also mutates the ``Authorization`` header, which covers the 401 paths.
* Purely random values almost never name an existing top-up or a known network, so two hooks mix
  real values into the generated ones (``before_generate_*``: one-of the schema's strategy and a
  strategy over the world's ids, network codes and well-formed amounts and hashes). The ids are
  read at draw time from ``WORLD``, filled by the ``world`` fixture of the running item.
* Reproducible: ``derandomize=True`` (the seed derives from the test), no example database.
  ``max_examples=50`` per operation bounds the run: ~12 s on SQLite, ~20 s on PostgreSQL (2 cores).
* ``test_schema_covers_every_api_route`` ties the fuzzed operations to the URLconf, so a route
  missing from the schema (and so from the fuzzing) fails loudly.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.test import Client as DjangoClient
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import Case, HookContext
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from nexora.accounts.models import ClientProfile, User
from nexora.accounts.roles import COMPLIANCE_OFFICER
from nexora.wsgi import application
from payments.models import Network, TopUp
from payments.services.charges import charge_create
from payments.services.deposits import deposit_observe
from payments.services.topups import topup_create
from tests.payments.memory_chain import memory_chain
from tests.review_helpers import held_deposit, review_case

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
NETWORKS = ("usdt-trc20", "btc", "eth")

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@dataclass
class World:
    """What exists in the database while one operation is fuzzed."""

    headers: dict[str, dict[str, str]]
    staff_cookies: dict[str, str]
    client_ids: list[int]
    topup_ids: list[str]
    charge_ids: list[int]
    tx_hashes: list[str]
    case_ids: list[int]
    networks: list[str] = field(default_factory=lambda: [*NETWORKS, "usdt-erc20", "not-a-network"])


WORLD: list[World] = []  # the running item's world; hooks read it when Hypothesis draws


def _world() -> World:
    assert WORLD, "the world fixture fills WORLD before any case is drawn"
    return WORLD[-1]


def _token(user: User) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def _verified_session(user: User) -> dict[str, str]:
    """The session cookie of ``user``, who carries a verified device (``conftest.otp_verified``). It
    goes in as a cookie, not a ``Cookie`` header: the WSGI transport (werkzeug's test client) builds
    the request's cookies from its own jar and drops such a header."""
    browser = DjangoClient()
    browser.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return {name: browser.cookies[name].value}


def _pay(network: Network, topups: list[TopUp], share: Decimal) -> list[str]:
    """Pay ``share`` of each top-up on an in-memory chain and let the deposit services credit it."""
    chain = memory_chain(network)
    transfers = [chain.pay(t.address.address, int(t.crypto_amount * share)) for t in topups]
    chain.mine(network.confirmations + 1)
    for transfer in chain.blocks[1][1]:
        deposit_observe(network=network, transfer=transfer, head=chain.head())
    return [t.tx_hash for t in transfers]


def _held_case(client: ClientProfile, network: Network) -> int:
    """A case with money held for review (its detail and case file are fuzzed with real data)."""
    deposit, _ = held_deposit(client, network)
    return review_case(client, deposit).pk


@pytest.fixture
def world(
    make_client: Callable[..., ClientProfile],
    make_network: Callable[..., Network],
    make_staff: Callable[..., User],
    billing_key: str,
) -> Iterator[World]:
    """Three networks, a funded client with paid and unpaid top-ups, another client, a charge."""
    eth = [make_network(code) for code in NETWORKS][-1]
    client, other = make_client(balance="100.00"), make_client(balance="5.00")
    mine = [topup_create(client=client, network_code=code, amount="50.00").topup for code in NETWORKS]
    theirs = topup_create(client=other, network_code="eth", amount="30.00").topup
    tx_hashes = _pay(eth, [mine[-1], theirs], Decimal("0.5"))  # credited deposits, flagged underpaid
    charge = charge_create(
        client_id=client.pk,
        amount=Decimal("1.00"),
        currency="USD",
        description="seed",
        idempotency_key="seed",
    ).charge
    WORLD.append(
        World(
            headers={
                "client": _token(client.user),
                "billing": {"Authorization": f"Api-Key {billing_key}"},
            },
            staff_cookies=_verified_session(make_staff(COMPLIANCE_OFFICER)),
            client_ids=[client.pk, other.pk],
            topup_ids=[str(t.public_id) for t in [*mine, theirs]],
            charge_ids=[charge.pk],
            case_ids=[_held_case(make_client(), make_network("usdt-erc20"))],
            tx_hashes=tx_hashes,  # the second one paid another client's top-up: 409 for ours
        )
    )
    yield WORLD[-1]
    WORLD.pop()


# --- hooks: mix real ids and well-formed values into the generated ones -------------------------

_amounts = st.one_of(
    st.decimals(min_value=Decimal("10"), max_value=Decimal("150"), places=2).map(str),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("2000000000"), places=2).map(str),
    st.sampled_from(["50.00", "0.01", "10000.00", "10000.01", "1e3", "-5", "0", "1.001", " 7 ", "NaN"]),
)


def _mostly(real: st.SearchStrategy[Any], generated: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Two draws in three from ``real``: purely generated values rarely get past validation."""
    return st.integers(0, 2).flatmap(lambda i: real if i < 2 else generated)


def _tx_hashes(world: World) -> st.SearchStrategy[str]:
    hex64 = st.text(alphabet=string.hexdigits, min_size=64, max_size=64)
    return st.one_of(
        st.sampled_from(world.tx_hashes),
        hex64,
        hex64.map(lambda h: "0x" + h),
        st.text(alphabet=string.hexdigits, max_size=70),
    )


def _valid_bodies(path: str) -> st.SearchStrategy[dict[str, Any]] | None:
    world = st.builds(_world)
    if path == "/api/v1/topups/":
        return world.flatmap(
            lambda w: st.fixed_dictionaries({"network": st.sampled_from(w.networks), "amount": _amounts})
        )
    if path == "/api/v1/charges/":
        return world.flatmap(
            lambda w: st.fixed_dictionaries(
                {
                    "client": st.sampled_from([*w.client_ids, 2**62]),
                    "amount": _amounts,
                    "currency": st.sampled_from(["USD", "EUR", "XXX"]),
                    "description": st.text(min_size=1, max_size=20),
                    "idempotency_key": st.sampled_from(["seed", "k1", "k2", "k3"]),
                },
                optional={"order_ref": st.text(max_size=10)},
            )
        )
    if path == "/api/v1/topups/{topup_id}/tx-hash/":
        return world.flatmap(lambda w: st.fixed_dictionaries({"tx_hash": _tx_hashes(w)}))
    return None


def _known_ids(path: str) -> Callable[[World], list[Any]] | None:
    if path.startswith("/api/v1/topups/{topup_id}"):
        return lambda w: w.topup_ids
    if path.startswith("/api/v1/charges/{id}"):
        return lambda w: w.charge_ids
    if path.startswith("/api/v1/staff/clients/{id}"):
        return lambda w: w.client_ids
    if path in ("/api/v1/staff/cases/{id}/", "/api/v1/staff/cases/{id}/file/"):
        return lambda w: w.case_ids
    return None


@schema.hook
def before_generate_body(context: HookContext, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    assert context.operation is not None
    valid = _valid_bodies(context.operation.path)
    return strategy if valid is None else _mostly(valid, strategy)


@schema.hook
def before_generate_path_parameters(
    context: HookContext, strategy: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    assert context.operation is not None
    known = _known_ids(context.operation.path)
    if known is None:
        return strategy
    name = "topup_id" if "{topup_id}" in context.operation.path else "id"
    real = st.builds(_world).flatmap(lambda w: st.sampled_from(known(w))).map(lambda value: {name: value})
    return _mostly(real, strategy)


# --- the test ------------------------------------------------------------------------------------


def _credentials(case: Case, world: World) -> dict[str, str]:
    path = case.operation.path
    if path.startswith("/api/v1/charges/"):
        return world.headers["billing"]
    if path.startswith("/api/v1/staff/"):
        return {}
    return world.headers["client"]


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case: Case, world: World) -> None:
    staff = case.operation.path.startswith("/api/v1/staff/")
    cookies = world.staff_cookies if staff else None
    case.call_and_validate(headers=_credentials(case, world), cookies=cookies, checks=CHECKS)


def _openapi_path(route: str) -> str:
    """``topups/<str:topup_id>/`` -> ``/api/v1/topups/{topup_id}/`` (drf-spectacular calls ``pk`` ``id``)."""
    return "/api/v1/" + re.sub(
        r"<(?:\w+:)?(\w+)>", lambda m: "{%s}" % ("id" if m[1] == "pk" else m[1]), route
    )


def _api_routes() -> set[str]:
    """Every route the URLconf serves under ``api/v1/``, whichever app's module declares it."""
    routes: set[str] = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern) == "api/v1/":
            routes |= {str(p.pattern) for p in entry.url_patterns if isinstance(p, URLPattern)}
    return routes


def test_schema_covers_every_api_route() -> None:
    """Every route of /api/v1/ is an operation of the served schema, so the fuzzing above reaches it."""
    assert {_openapi_path(route) for route in _api_routes()} == set(schema.raw_schema["paths"])
