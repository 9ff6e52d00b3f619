"""Admin: networks are editable configuration; the ledger, charges, addresses, top-ups, deposits,
refunds, refund addresses, look-alike token transfers and scan cursors are read only (money and
statuses move only through services)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from nexora.common.admin_base import ReadOnlyAdmin
from payments.models import (
    Charge,
    Deposit,
    DepositAddress,
    Hold,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    LookalikeTransfer,
    Network,
    PayoutRequest,
    RefundAddress,
    ScanCursor,
    TopUp,
)


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


class NetworkAdminForm(forms.ModelForm):
    class Meta:
        model = Network
        fields = "__all__"  # noqa: DJ007 - every field is configuration an operator may edit

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # Django calls it after model validation
        if "xpub" in self.errors:  # a refused key (maybe a private one) is never sent back to the browser
            data = dict(self.data.items())
            data["xpub"] = ""
            self.data = data


@admin.register(Network)
class NetworkAdmin(admin.ModelAdmin):
    """Editable configuration. ``Network.clean`` refuses private keys and meaning-changing edits."""

    form = NetworkAdminForm
    list_display = ["code", "name", "family", "chain_id", "asset", "confirmations", "key", "enabled"]
    list_filter = ["family", "enabled"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="key")
    def key(self, network: Network) -> str:
        return network.key_fingerprint

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a network is disabled, never deleted: its addresses and top-ups stay


@admin.register(DepositAddress)
class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ["address", "family", "index", "key_fingerprint", "network", "client", "created_at"]
    list_filter = ["family"]
    search_fields = ["address"]


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "client", "network", "amount", "currency", "status", "exception", "review",
                    "credited_amount", "created_at"]  # fmt: skip
    list_filter = ["status", "exception", "review", "network"]
    search_fields = ["public_id", "address__address"]


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = ["tx_hash", "index", "network", "client", "amount", "confirmations", "status",
                    "unapplied_reason", "credited_amount", "late"]  # fmt: skip
    list_filter = ["status", "unapplied_reason", "network"]
    search_fields = ["tx_hash", "sender"]


@admin.register(PayoutRequest)
class PayoutRequestAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "client", "network", "amount", "currency", "units", "destination", "status",
                    "requested_by", "approved_by", "tx_hash", "created_at"]  # fmt: skip
    list_filter = ["status", "network"]
    search_fields = ["public_id", "destination", "tx_hash", "reference"]


@admin.register(RefundAddress)
class RefundAddressAdmin(ReadOnlyAdmin):
    list_display = ["id", "client", "network", "address", "status", "reference", "created_at"]
    list_filter = ["status", "network"]
    search_fields = ["address"]


@admin.register(LookalikeTransfer)
class LookalikeTransferAdmin(ReadOnlyAdmin):
    """Tokens from contracts other than the official one, sent to our addresses: seen, never credited."""

    list_display = ["tx_hash", "index", "network", "contract", "address", "sender", "amount", "block_height",
                    "created_at"]  # fmt: skip
    list_filter = ["network"]
    search_fields = ["tx_hash", "contract", "address__address", "sender"]
    list_select_related = ["network", "address"]


@admin.register(ScanCursor)
class ScanCursorAdmin(ReadOnlyAdmin):
    list_display = ["network", "height", "head", "last_success_at", "consecutive_errors", "error_count",
                    "last_error"]  # fmt: skip
