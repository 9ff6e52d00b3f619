"""Admin for erasure requests: read only (they are answered from the staff queue, with its checks)."""

from django.contrib import admin

from nexora.common.admin_base import ReadOnlyAdmin
from nexora.privacy.models import ErasureRequest


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "client", "status", "created_at", "due_at", "decided_at", "decided_by"]
    list_filter = ["status"]
    search_fields = ["client__id", "client__user__username"]
    list_select_related = ["client__user", "decided_by"]
