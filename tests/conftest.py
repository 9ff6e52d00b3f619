"""Shared fixtures: clients and staff of each role, API clients, the billing key.

Markers ``postgres`` / ``redis`` / ``anvil`` / ``browser`` declare a real service a test needs. Without
it the test is skipped with a reason (a laptop without PostgreSQL can still run the rest); with
``NEXORA_FORBID_SKIPS=1`` (set by ``.ci/run``) any skip fails the whole run, so CI runs everything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from nexora.accounts.models import ClientProfile, User
from nexora.accounts.roles import STAFF_ROLES, roles_sync
from nexora.accounts.services import apikey_create, client_create
from payments.services.ledger import ledger_credit


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis: set REDIS_URL=redis://...")
    if item.get_closest_marker("anvil"):
        from tests.chain.anvil import AnvilNotInstalledError, find_anvil_binary

        try:
            find_anvil_binary()
        except AnvilNotInstalledError as exc:
            pytest.skip(str(exc))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("NEXORA_FORBID_SKIPS"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if reporter is not None and skipped:
        reporter.write_line(
            f"NEXORA_FORBID_SKIPS: {len(skipped)} test(s) skipped; CI must run all.", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def make_client(db: None) -> Callable[..., ClientProfile]:
    counter = iter(range(1, 10**6))

    def make(*, balance: Decimal | str | None = None, currency: str = "USD", **kwargs: Any) -> ClientProfile:
        profile = client_create(
            username=f"client{next(counter)}", password="pw-123456", currency=currency, **kwargs
        )
        if balance is not None:
            ledger_credit(client=profile, amount=Decimal(balance), idempotency_key=f"seed:{profile.pk}")
        return profile

    return make


@pytest.fixture
def client_profile(make_client: Callable[..., ClientProfile]) -> ClientProfile:
    return make_client(balance="100.00")


@pytest.fixture
def make_staff(db: None) -> Callable[[str], User]:
    def make(role: str) -> User:
        groups = roles_sync()
        user = User.objects.create_user(
            username=f"staff-{role}-{User.objects.count()}", password="pw", is_staff=True
        )
        user.groups.set([groups[role]])
        return user

    return make


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_api(client_profile: ClientProfile) -> APIClient:
    api = APIClient()
    api.force_authenticate(client_profile.user)
    return api


@pytest.fixture
def billing_key(db: None) -> str:
    _, raw = apikey_create(name="billing-test")
    return raw


@pytest.fixture
def billing_api(billing_key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {billing_key}")
    return api


__all__ = ["STAFF_ROLES"]
