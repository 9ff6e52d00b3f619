"""Staff roles as Django groups, declared here and synced after every ``migrate``.

The table is the single source of truth: a role's group gets exactly these permissions (extra ones
added by hand are removed on the next sync), so what a role may do is reviewable in one place.
``"<app>.*"`` means every permission of that app.

* support: read only.
* compliance_officer: works AML cases (read everything, place holds, freeze accounts).
* compliance_lead: second approver (four-eyes), publishes rule sets, unfreezes and terminates.
* admin: everything in Nexora's apps, including API keys.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

SUPPORT = "support"
COMPLIANCE_OFFICER = "compliance_officer"
COMPLIANCE_LEAD = "compliance_lead"
ADMIN = "admin"
STAFF_ROLES = (SUPPORT, COMPLIANCE_OFFICER, COMPLIANCE_LEAD, ADMIN)

_READ = [
    "accounts.view_client_data",
    "accounts.view_clientprofile",
    "payments.view_ledgeraccount",
    "payments.view_ledgertransaction",
    "payments.view_ledgerentry",
    "payments.view_charge",
    "payments.view_hold",
    "common.view_statuschange",
]
_OFFICER = [*_READ, "accounts.freeze_account", "payments.manage_hold"]
_LEAD = [*_OFFICER, "accounts.unfreeze_account", "accounts.terminate_account", "accounts.approve_second"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    SUPPORT: _READ,
    COMPLIANCE_OFFICER: _OFFICER,
    COMPLIANCE_LEAD: _LEAD,
    ADMIN: ["accounts.*", "payments.*", "aml.*", "common.*", "authtoken.*"],
}

# --- AML engine: assessments, draft rule sets, KYC levels, snoozes (officers); publishing (leads).
# Support does not read assessments: rule names and scores stay with compliance (no tipping-off).
_AML_OFFICER = [
    "aml.view_assessment",
    "aml.view_ruleoutcome",
    "aml.view_ruleset",
    "aml.edit_ruleset",
    "aml.view_clientverification",
    "aml.change_kyc_level",
    "aml.snooze_rule",
]
ROLE_PERMISSIONS[COMPLIANCE_OFFICER] = [*ROLE_PERMISSIONS[COMPLIANCE_OFFICER], *_AML_OFFICER]
ROLE_PERMISSIONS[COMPLIANCE_LEAD] = [*ROLE_PERMISSIONS[COMPLIANCE_LEAD], *_AML_OFFICER, "aml.publish_ruleset"]

# Sanctions lists (aml.sanctions): both compliance roles read the listings and keep the deny list.
_SANCTIONS = [
    "sanctions.view_sanctionsimport",
    "sanctions.view_sanctionedaddress",
    "sanctions.view_denylistentry",
    "sanctions.manage_denylist",
]
for _role in (COMPLIANCE_OFFICER, COMPLIANCE_LEAD):
    ROLE_PERMISSIONS[_role] = [*ROLE_PERMISSIONS[_role], *_SANCTIONS]
ROLE_PERMISSIONS[ADMIN] = [*ROLE_PERMISSIONS[ADMIN], "sanctions.*"]


def _resolve(spec: str) -> list[Permission]:
    app_label, codename = spec.split(".", 1)
    qs = Permission.objects.filter(content_type__app_label=app_label)
    if codename != "*":
        qs = qs.filter(codename=codename)
        if not qs.exists():
            raise LookupError(f"role permission {spec!r} does not exist")
    return list(qs)


def roles_sync() -> dict[str, Group]:
    """Create the role groups and set each one's permissions to exactly its table row."""
    groups = {}
    for role, specs in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([perm for spec in specs for perm in _resolve(spec)])
        groups[role] = group
    return groups


def roles_sync_receiver(sender: AppConfig, **kwargs: Any) -> None:
    if sender.label != "accounts":
        return
    for app_config in apps.get_app_configs():  # permissions of apps migrated after this one
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    roles_sync()


def user_has_role(user: Any, *roles: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=roles).exists()
