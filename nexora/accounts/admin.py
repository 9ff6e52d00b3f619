"""Admin for users, client profiles, API keys and the security log.

The account status is read-only here: it changes only through ``account_transition`` (admin
actions below), so every change is audited. API keys are created with ``manage.py apikey_create``
(the raw key is shown once); the admin can only revoke them. The security log is read-only; an
admin can clear a staff member's login lockout (an action on users, itself logged). Every change
made through the admin is also written to the security log as a staff action
(``on_admin_log_entry``), with the admin's IP.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from nexora.accounts.models import ApiKey, ClientProfile, SecurityEvent, User
from nexora.accounts.security import SecurityKind, lockout_clear, security_event_log
from nexora.accounts.services import account_freeze, account_unfreeze
from nexora.common.admin_base import ReadOnlyAdmin


@admin.register(User)
class NexoraUserAdmin(UserAdmin):
    actions = ["clear_lockout"]

    @admin.action(description="Clear the login lockout of selected staff", permissions=["change"])
    def clear_lockout(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset.filter(is_staff=True):
            lockout_clear(user=user, actor=request.user, request=request)


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "user", "username", "ip", "detail"]
    list_filter = ["kind"]
    search_fields = ["username", "user__username", "ip", "detail"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


def on_admin_log_entry(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Every admin addition, change and deletion is a staff action in the security log."""
    if not created:
        return
    verb = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}
    model = instance.content_type.model if instance.content_type else "?"
    detail = f"admin {verb.get(instance.action_flag, 'touched')} {model} #{instance.object_id}"
    security_event_log(user=instance.user, kind=SecurityKind.STAFF_ACTION, detail=detail)


@admin.register(ClientProfile)
class ClientProfileAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "currency", "language", "status", "created_at"]
    list_filter = ["status", "currency", "language"]
    search_fields = ["user__username", "user__email"]
    readonly_fields = ["status", "closed_at", "anonymised_at", "created_at", "updated_at"]
    actions = ["freeze", "unfreeze"]

    @admin.action(description="Freeze selected accounts (pending review)", permissions=["freeze"])
    def freeze(self, request: HttpRequest, queryset: QuerySet[ClientProfile]) -> None:
        for profile in queryset:
            account_freeze(profile=profile, actor=request.user, reason="frozen from admin")

    @admin.action(description="Unfreeze selected accounts", permissions=["unfreeze"])
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[ClientProfile]) -> None:
        for profile in queryset:
            account_unfreeze(profile=profile, actor=request.user, reason="unfrozen from admin")

    def has_freeze_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.freeze_account")

    def has_unfreeze_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.unfreeze_account")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "scopes", "created_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "key_hash", "scopes", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
