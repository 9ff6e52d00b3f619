"""Admin: notifications and their delivery log, read only; a failed delivery can be queued again.

Link codes and Telegram update records are not shown: they are plumbing, and a code's hash is of
no use to anyone.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from aml.notifications.models import DeliveryStatus, Notification, NotificationDelivery
from aml.notifications.services import delivery_retry
from nexora.common.admin_base import ReadOnlyAdmin


class DeliveryInline(admin.TabularInline):
    model = NotificationDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ("channel", "status", "attempts", "last_error", "sent_at", "updated_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "client", "event", "dedupe_key", "read_at"]
    list_filter = ["event"]
    search_fields = ["dedupe_key", "client__user__username"]
    inlines = [DeliveryInline]


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "notification",
        "channel",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    ]
    list_filter = ["status", "channel"]
    actions = ["retry_failed"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.retry_delivery")

    @admin.action(description="Queue the selected failed deliveries again", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[NotificationDelivery]) -> None:
        failed = list(queryset.filter(status=DeliveryStatus.FAILED))
        for delivery in failed:
            delivery_retry(delivery=delivery, actor=request.user)
        self.message_user(request, f"{len(failed)} delivery(ies) queued again.", messages.SUCCESS)
