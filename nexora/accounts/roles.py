"""Staff roles as Django groups, declared here and synced after every ``migrate``.

The table is the single source of truth: a role's group gets exactly these permissions (extra ones
added by hand are removed on the next sync), so what a role may do is reviewable in one place.
``"<app>.*"`` means every permission of that app.

* support: read only.
* compliance_officer: works AML cases (read everything, place holds, freeze accounts).
* compliance_lead: second approver (four-eyes), publishes rule sets, unfreezes and terminates.
* admin: everything in Nexora's apps, including API keys.
* treasury: exports approved refunds and records their outgoing transactions (nothing else).
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
TREASURY = "treasury"
STAFF_ROLES = (SUPPORT, COMPLIANCE_OFFICER, COMPLIANCE_LEAD, ADMIN)  # the dashboard's roles
ALL_ROLES = (*STAFF_ROLES, TREASURY)

# Read-only view of clients, balances and the scanner; support has no more than this.
_READ = [
    "accounts.view_client_data",
    "accounts.view_clientprofile",
    "payments.view_ledgeraccount",
    "payments.view_ledgertransaction",
    "payments.view_ledgerentry",
    "payments.view_charge",
    "payments.view_hold",
    "common.view_statuschange",
    # the client's notifications and their delivery log ("did my e-mail go out?")
    "notifications.view_notification",
    "notifications.view_notificationdelivery",
    "payments.view_scancursor",  # the scanner's health (staff API and dashboard)
    "payments.view_lookaliketransfer",
    "privacy.view_erasurerequest",  # the erasure queue
    "cases.view_case",  # the case queue and case pages (support reads; acting needs work_case)
]
# The AML engine: assessments, draft rule sets, KYC levels, snoozes. Support does not read
# assessments: rule names and scores stay with compliance (no tipping-off).
_AML = [
    "aml.view_assessment",
    "aml.view_ruleoutcome",
    "aml.view_ruleset",
    "aml.edit_ruleset",
    "aml.view_clientverification",
    "aml.change_kyc_level",
    "aml.snooze_rule",
]
# The client's review documents are need-to-know: compliance roles only.
_REVIEW_DOCUMENTS = [
    "cases.view_documentrequest",
    "cases.add_documentrequest",
    "cases.change_documentrequest",
    "cases.view_clientdocument",
    "cases.view_clientstatement",
]
_REFUNDS = ["payments.view_payoutrequest", "payments.view_refundaddress", "payments.request_payout"]
# Sanctions lists (aml.sanctions): both compliance roles read the listings and keep the deny list.
_SANCTIONS = [
    "sanctions.view_sanctionsimport",
    "sanctions.view_sanctionedaddress",
    "sanctions.view_denylistentry",
    "sanctions.manage_denylist",
]
_OFFICER = [
    *_READ, *_AML, *_REVIEW_DOCUMENTS, *_REFUNDS, *_SANCTIONS,
    "accounts.freeze_account", "payments.manage_hold", "cases.work_case",
]  # fmt: skip
_LEAD = [
    *_OFFICER,
    "accounts.unfreeze_account", "accounts.terminate_account", "accounts.approve_second",
    "aml.publish_ruleset", "payments.approve_payout", "cases.decide_case",
    # privacy: leads answer erasure requests and read the security log (it holds IPs: need to know)
    "privacy.execute_erasure", "accounts.view_securityevent",
]  # fmt: skip

_ADMIN_APPS = ("accounts", "payments", "aml", "cases", "sanctions", "common", "authtoken", "notifications",
               "privacy", "otp_totp")  # fmt: skip

ROLE_PERMISSIONS: dict[str, list[str]] = {
    SUPPORT: _READ,
    COMPLIANCE_OFFICER: _OFFICER,
    COMPLIANCE_LEAD: _LEAD,
    # admins: everything in Nexora's apps, including API keys and two-factor devices
    ADMIN: [f"{app}.*" for app in _ADMIN_APPS],
    # treasury: exports approved refunds and records the hashes of the transactions it signed
    # offline; it sees nothing else
    TREASURY: ["payments.view_payoutrequest", "payments.send_payout"],
}


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
