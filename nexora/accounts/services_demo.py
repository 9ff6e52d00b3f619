"""Demo data for ``make run``: users for each role, a billing key, an opening balance and the devnet
networks (``config/networks.devnet.yaml``: the local anvil chain, with a public test key).

Idempotent (safe to run at every start) and refused in production. The demo passwords and the
billing key are fixed and printed, because the point of the demo is to be tried by hand. The demo
runner (``payments.demo``) passes the node it started and the token it deployed, so the networks
point at them (``payments.services.devnet.devnet_networks_load``).

Staff must pass two-factor authentication, so every demo staff user gets a confirmed TOTP device
with one fixed, printed secret (``DEMO_TOTP_KEY``): add it to any authenticator app, or read the
current code with ``python manage.py demo_otp_code``. Dev only, like everything here.
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
DEMO_TOTP_KEY = "4e65786f72612064656d6f20746f7470206b6579"  # hex of "Nexora demo totp key": demo only
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
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.is_superuser = role == ADMIN
        user.save()
    user.groups.set([Group.objects.get(name=role)])
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="demo", key=DEMO_TOTP_KEY, confirmed=True)


def demo_totp_secret() -> str:
    """The demo key in the base32 form authenticator apps expect."""
    import base64

    return base64.b32encode(bytes.fromhex(DEMO_TOTP_KEY)).decode().rstrip("=")


def demo_otp_code(*, username: str) -> str:
    """The current code of a demo staff user's device (dev only; see ``demo_otp_code`` command)."""
    if settings.PRODUCTION:
        raise PermissionDenied("Demo codes are never shown in production.", code="demo_refused")
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user__username=username, confirmed=True, key=DEMO_TOTP_KEY).first()
    if device is None:
        raise PermissionDenied(f"{username!r} has no demo device.", code="demo_refused")
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


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
