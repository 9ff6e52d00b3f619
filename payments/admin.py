"""Admin for the ledger (read only: money moves only through services) and charges."""

from django.contrib import admin

from nexora.common.admin_base import ReadOnlyAdmin
from payments.models import Charge, Hold, LedgerAccount, LedgerEntry, LedgerTransaction


class EntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    readonly_fields = ["account", "amount", "currency", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "system_code", "client", "currency", "balance"]
    list_filter = ["kind", "currency"]


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kind", "client", "reference", "idempotency_key"]
    list_filter = ["kind"]
    search_fields = ["reference", "idempotency_key"]
    inlines = [EntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "transaction", "account", "amount", "currency"]
    list_filter = ["currency"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "client", "amount", "remaining", "currency", "status", "reason"]
    list_filter = ["status"]


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = ["id", "client", "amount", "currency", "status", "order_ref", "created_at"]
    list_filter = ["status"]
    search_fields = ["order_ref", "idempotency_key"]
