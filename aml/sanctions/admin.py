"""Admin: imports, listings and the deny list are read only (they change only through services)."""

from django.contrib import admin

from aml.sanctions.models import DenyListEntry, SanctionedAddress, SanctionsImport
from nexora.common.admin_base import ReadOnlyAdmin


@admin.register(SanctionsImport)
class SanctionsImportAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "source_kind", "published_on", "checksum_verified", "finished_at",
        "added", "delisted", "unchanged", "updated", "actor", "actor_label",
    ]  # fmt: skip
    list_filter = ["source_kind", "checksum_verified"]


@admin.register(SanctionedAddress)
class SanctionedAddressAdmin(ReadOnlyAdmin):
    list_display = [
        "address", "family", "asset", "entity_name", "listed_on", "source", "status",
        "listed_by_import", "delisted_by_import",
    ]  # fmt: skip
    list_filter = ["status", "family", "source", "asset"]
    search_fields = ["address", "listed_as", "entity_name", "party_uid"]


@admin.register(DenyListEntry)
class DenyListEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "address",
        "family",
        "status",
        "reason",
        "added_by",
        "added_at",
        "removed_by",
        "removed_at",
    ]
    list_filter = ["status", "family"]
    search_fields = ["address", "listed_as", "reason"]
