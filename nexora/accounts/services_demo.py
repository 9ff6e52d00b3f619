"""Demo data for ``make run``: users for each role, a billing key, an opening balance and the devnet
networks (``config/networks.devnet.yaml``: the local anvil chain, with a public test key).

Idempotent (safe to run at every start) and refused in production. The demo passwords and the
billing key are fixed and printed, because the point of the demo is to be tried by hand. The demo
runner (``payments.demo``) passes the node it started and the token it deployed, so the networks
point at them (``payments.services.devnet.devnet_networks_load``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from nexora.accounts.models import ApiKey, ClientProfile, User, api_key_hash
from nexora.accounts.roles import ADMIN, COMPLIANCE_LEAD, COMPLIANCE_OFFICER, SUPPORT, roles_sync
from nexora.accounts.services import client_create
from nexora.common.errors import PermissionDenied

DEMO_BILLING_KEY = "nxk_demo_billing_key_do_not_use_in_production"
DEMO_PASSWORD = "nexora-demo-1"  # noqa: S105 - demo only
DEMO_STAFF = [
    ("officer", COMPLIANCE_OFFICER),
    ("lead", COMPLIANCE_LEAD),
    ("lead2", COMPLIANCE_LEAD),
    ("support", SUPPORT),
    ("admin", ADMIN),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str


def _staff_ensure(username: str, role: str) -> None:
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.is_superuser = role == ADMIN
        user.save()
    user.groups.set([Group.objects.get(name=role)])


@transaction.atomic
def demo_setup(*, node_url: str | None = None, token_contract: str | None = None) -> list[DemoLogin]:
    if settings.PRODUCTION:
        raise PermissionDenied("Demo data is never created in production.", code="demo_refused")
    from payments.services.ledger import ledger_credit

    roles_sync()
    profile = ClientProfile.objects.filter(user__username="client").first()
    if profile is None:
        profile = client_create(username="client", password=DEMO_PASSWORD, email="client@example.com")
    ledger_credit(
        client=profile,
        amount=Decimal("100.00"),
        idempotency_key="demo:opening-balance",
        kind="adjustment",
        description="Demo opening balance",
    )
    for username, role in DEMO_STAFF:
        _staff_ensure(username, role)
    ApiKey.objects.get_or_create(
        name="demo-billing",
        defaults={"prefix": DEMO_BILLING_KEY[:12], "key_hash": api_key_hash(DEMO_BILLING_KEY)},
    )
    from payments.services.devnet import devnet_networks_load

    devnet_networks_load(node_url=node_url, token_contract=token_contract)
    return [DemoLogin("client", "client"), *(DemoLogin(u, r) for u, r in DEMO_STAFF)]
