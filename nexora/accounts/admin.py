"""Admin for users, client profiles and API keys.

The account status is read-only here: it changes only through ``account_transition`` (admin
actions below), so every change is audited. API keys are created with ``manage.py apikey_create``
(the raw key is shown once); the admin can only revoke them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from nexora.accounts.models import ApiKey, ClientProfile, User
from nexora.accounts.services import account_freeze, account_unfreeze

admin.site.register(User, UserAdmin)


@admin.register(ClientProfile)
class ClientProfileAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "currency", "language", "status", "created_at"]
    list_filter = ["status", "currency", "language"]
    search_fields = ["user__username", "user__email"]
    readonly_fields = ["status", "created_at", "updated_at"]
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
