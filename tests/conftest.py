"""Shared fixtures: clients and staff of each role, API clients, the billing key.

Markers ``postgres`` / ``redis`` / ``anvil`` / ``browser`` declare a real service a test needs. Without
it the test is skipped with a reason (a laptop without PostgreSQL can still run the rest); with
``NEXORA_FORBID_SKIPS=1`` (set by ``.ci/run``) any skip fails the whole run, so CI runs everything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from nexora.accounts.models import ClientProfile, User
from nexora.accounts.roles import STAFF_ROLES, roles_sync
from nexora.accounts.services import apikey_create, client_create
from payments.models import Network
from payments.services.ledger import ledger_credit


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        pytest.skip("needs Redis: set REDIS_URL=redis://...")
    if item.get_closest_marker("browser") and not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Chromium at /usr/bin/chromium (apt-get install chromium)")
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


def otp_verified(user: User) -> User:
    """Give ``user`` a confirmed TOTP device and mark this instance as having passed it, as
    django-otp's middleware does for a verified session: ``client.force_login(user)`` then stores the
    device in the session (django-otp's ``user_logged_in`` receiver) and DRF's
    ``force_authenticate(user)`` passes the staff two-factor check. Tests of the enforcement itself
    use ``make_staff(role, verified=False)``."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    user.otp_device = device  # type: ignore[attr-defined]
    user.is_verified = lambda: True  # type: ignore[attr-defined]
    return user


@pytest.fixture
def make_staff(db: None) -> Callable[..., User]:
    synced: list[dict[str, Any]] = []  # the role groups, synced once per test (a sync takes ~0.3 s)

    def make(role: str, *, verified: bool = True) -> User:
        if not synced:
            synced.append(roles_sync())
        groups = synced[0]
        user = User.objects.create_user(
            username=f"staff-{role}-{User.objects.count()}", password="pw", is_staff=True
        )
        user.groups.set([groups[role]])
        return otp_verified(user) if verified else user

    return make


@pytest.fixture
def admin_user(db: None) -> User:
    """pytest-django's superuser (behind its ``admin_client``), with a verified second factor."""
    user = User.objects.create_superuser(username="admin", email="admin@example.com", password="password")
    return otp_verified(user)


DEVNET_EVM_XPUB = (  # m/44'/60'/0' of the public test phrase "abandon ... about"
    "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"
)
DEVNET_TRON_XPUB = "xpub6D1AabNHCupeiLM65ZR9UStMhJ1vCpyV4XbZdyhMZBiJXALQtmn9p42VTQckoHVn8WNqS7dqnJokZHAHcHGoaQgmv8D45oNUKx6DZMNZBCd"  # noqa: E501
BIP84_ZPUB = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"  # noqa: E501
NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "usdt-trc20": {"name": "USDT (TRON, TRC-20)", "family": "tron", "asset": "USDT",
                   "token_contract": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "decimals": 6, "confirmations": 19,
                   "min_amount": "1", "xpub": DEVNET_TRON_XPUB},
    "usdt-erc20": {"name": "USDT (Ethereum, ERC-20)", "family": "evm", "chain_id": 1, "asset": "USDT",
                   "token_contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6,
                   "confirmations": 3, "min_amount": "1", "xpub": DEVNET_EVM_XPUB,
                   "explorer_tx_url": "https://etherscan.io/tx/{tx}"},
    "usdt-bep20": {"name": "USDT (BSC, BEP-20)", "family": "evm", "chain_id": 56, "asset": "USDT",
                   "token_contract": "0x55d398326f99059fF775485246999027B3197955", "decimals": 18,
                   "quote_places": 6, "confirmations": 3, "min_amount": "1", "xpub": DEVNET_EVM_XPUB},
    "eth": {"name": "Ether", "family": "evm", "chain_id": 1, "asset": "ETH", "decimals": 18,
            "confirmations": 3, "min_amount": "0.001", "xpub": DEVNET_EVM_XPUB},
    "trx": {"name": "TRX", "family": "tron", "asset": "TRX", "decimals": 6, "confirmations": 19,
            "min_amount": "10", "xpub": DEVNET_TRON_XPUB},
    "btc": {"name": "Bitcoin", "family": "bitcoin", "asset": "BTC", "decimals": 8, "confirmations": 2,
            "min_amount": "0.0001", "xpub": BIP84_ZPUB},
}  # fmt: skip
STATIC_RATES = {"BTC/USD": "90000", "ETH/USD": "3000", "TRX/USD": "0.25", "USDT/USD": "1", "USDT/EUR": "0.92",
                "ETH/EUR": "2760", "BTC/EUR": "83000", "TRX/EUR": "0.23"}  # fmt: skip


@pytest.fixture(autouse=True)
def static_rates(settings: Any) -> Iterator[None]:
    """Every test quotes from the same static table, and no cached rate leaks between tests."""
    from payments.services.quotes import rate_service

    settings.NEXORA_RATE_PROVIDERS = ["static"]
    settings.NEXORA_STATIC_RATES = dict(STATIC_RATES)
    rate_service.cache_clear()
    yield
    rate_service.cache_clear()


@pytest.fixture(autouse=True)
def process_caches_forgotten() -> Iterator[None]:
    """Per-process caches of database rows (system accounts, watched addresses, the scanner's
    read-ahead) start empty in every test: a test database is rolled back or flushed between
    tests, production rows stay."""
    from payments.scan_ahead import ahead_forget
    from payments.selectors.watched import watched_addresses_forget
    from payments.services.ledger import system_accounts_forget

    for forget in (system_accounts_forget, watched_addresses_forget, ahead_forget):
        forget()
    yield
    for forget in (system_accounts_forget, watched_addresses_forget, ahead_forget):
        forget()


@pytest.fixture
def make_network(db: None) -> Callable[..., Network]:
    """``make_network("usdt-trc20", confirmations=2)``: a network as ``networks_load`` would create it."""
    from payments.services.networks import networks_load

    def make(code: str = "usdt-erc20", **overrides: Any) -> Network:
        base = dict(NETWORK_DEFAULTS.get(code.split("@")[0], NETWORK_DEFAULTS["usdt-erc20"]))
        networks_load(entries=[{"code": code.split("@")[-1], **base, **overrides}])
        return Network.objects.get(code=code.split("@")[-1])

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


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Each test starts in the default language. A request through ``LocaleMiddleware`` (a client
    whose language is Ukrainian) leaves that language active in the thread, and a later test that
    records ``get_language()`` (a statement's language) would depend on the order tests ran in."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


__all__ = ["STAFF_ROLES"]
