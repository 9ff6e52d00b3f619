"""Admin for the status-change audit trail (read only)."""

from django.contrib import admin

from nexora.common.admin_base import ReadOnlyAdmin
from nexora.common.models import StatusChange


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "entity", "entity_id", "from_status", "to_status", "actor"]
    list_filter = ["entity", "to_status"]
    search_fields = ["entity_id", "reason"]
