"""Sanctions listings and the operator's deny list, kept as history: rows are closed, never deleted.

* ``SanctionsImport``: one row per import (one OFAC XML file, or a set of per-asset lists): what
  was read (names, sizes, SHA-256), OFAC's publication date, whether OFAC's checksum was verified,
  when, by whom, and the counts (added / delisted / unchanged / updated, in total and per address
  family). It is inserted once, with its final counts, in the import's own transaction, so it is
  fully append-only (PostgreSQL refuses UPDATE and DELETE).
* ``SanctionedAddress``: one *listing period*. A listing is identified by (source, list, family,
  canonical address, asset, party uid). The asset belongs to the identity because the same party
  lists some addresses under two assets (13 in the 2025-12 snapshot, e.g. ETH and USDT), and
  because a per-asset import must delist only its own asset. ``listed_by_import`` opened the row;
  an import of the same scope that no longer contains it closes it (``status`` ``delisted``,
  ``delisted_by_import``, ``delisted_at``). A listing that comes back gets a **new row**, so every
  period stays visible (listed by import 3, delisted by 7, listed again by 9), instead of a cleared
  delisting that would erase the first period. Hence "unique" holds among active rows only.
* ``DenyListEntry``: the operator's own list (rule 2). Same pattern: soft removal closes the row
  (who, when, why), re-adding opens a new row, one active entry per address.

PostgreSQL enforces the history (migration 0002): DELETE is refused on all three tables; an
update may only close an open row or refresh its listing details, and a closed row is frozen.
The model layer refuses deletes too (``NoDeleteQuerySet``), for the SQLite demo.

Statuses move only through ``sanctioned_address_transition`` / ``denylist_transition``
(``services``), which write a ``StatusChange`` audit row.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q

from aml.sanctions.parsers import SOURCE_ASSET_LIST, SOURCE_OFAC_XML
from nexora.common.models import AppendOnlyError, AppendOnlyModel

OFAC_SDN = "OFAC SDN"
ADDRESS_MAX = 255


class AddressFamily(models.TextChoices):
    EVM = "evm", "EVM (compared case-insensitively)"
    TRON = "tron", "TRON (base58, exact)"
    BITCOIN = "bitcoin", "Bitcoin (base58 exact, bech32 lower-cased)"
    OTHER = "other", "Other (exact)"


class SourceKind(models.TextChoices):
    OFAC_XML = SOURCE_OFAC_XML, "OFAC SDN advanced XML"
    ASSET_LIST = SOURCE_ASSET_LIST, "OFAC per-asset address lists"


class ListingStatus(models.TextChoices):
    ACTIVE = "active", "Listed"
    DELISTED = "delisted", "Delisted"


class DenyListStatus(models.TextChoices):
    ACTIVE = "active", "On the deny list"
    REMOVED = "removed", "Removed"


class NoDeleteQuerySet(models.QuerySet):
    def delete(self) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are history and cannot be deleted")


class NoDeleteModel(models.Model):
    objects: ClassVar[models.Manager] = NoDeleteQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{type(self).__name__} rows are history and cannot be deleted")


class SanctionsImport(AppendOnlyModel):
    source_kind = models.CharField(max_length=32, choices=SourceKind.choices)
    files = models.JSONField(help_text='What was read: [{"name", "size", "sha256"}, ...]')
    scope_assets = models.JSONField(
        null=True, blank=True, help_text="Assets whose listings this import covers; empty: the whole source"
    )
    checksum_verified = models.BooleanField(
        default=False, help_text="OFAC's sdn_advanced_checksum.txt sat beside the XML and matched"
    )
    published_on = models.DateField(null=True, blank=True, help_text="OFAC's DateOfIssue, when present")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    added = models.PositiveIntegerField()
    delisted = models.PositiveIntegerField()
    unchanged = models.PositiveIntegerField()
    updated = models.PositiveIntegerField(help_text="Still listed, with a new name, programs or date")
    per_family = models.JSONField(help_text='{"evm": {"added": n, "delisted": n, ...}, ...}')
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="e.g. the command and OS user")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"sanctions import #{self.pk} ({self.source_kind})"


class SanctionedAddress(NoDeleteModel):
    family = models.CharField(max_length=8, choices=AddressFamily.choices)
    address = models.CharField(max_length=ADDRESS_MAX, help_text="Canonical form (see normalize.py)")
    listed_as = models.CharField(max_length=ADDRESS_MAX, help_text="Exactly as the source wrote it")
    list_name = models.CharField(max_length=64, default=OFAC_SDN)
    asset = models.CharField(max_length=16, help_text="As listed: XBT, ETH, USDT, TRX, ...")
    party_uid = models.CharField(max_length=32, blank=True, help_text="OFAC profile id (XML only)")
    entity_name = models.CharField(max_length=500, blank=True)
    programs = models.JSONField(default=list)
    listed_on = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=32, choices=SourceKind.choices)
    status = models.CharField(max_length=8, choices=ListingStatus.choices, default=ListingStatus.ACTIVE)
    listed_by_import = models.ForeignKey(SanctionsImport, on_delete=models.PROTECT, related_name="listed")
    delisted_by_import = models.ForeignKey(
        SanctionsImport, null=True, blank=True, on_delete=models.PROTECT, related_name="delisted_rows"
    )
    delisted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "sanctioned addresses"
        ordering = ["family", "address", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "list_name", "family", "address", "asset", "party_uid"],
                condition=Q(status="active"),
                name="sanctioned_address_active_unique",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="active", delisted_by_import__isnull=True, delisted_at__isnull=True)
                    | Q(status="delisted", delisted_by_import__isnull=False, delisted_at__isnull=False)
                ),
                name="sanctioned_address_delisting_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["address"], name="sanctioned_address_addr"),
            models.Index(fields=["source", "asset"], condition=Q(status="active"), name="sanctioned_active"),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.asset}, {self.entity_name or self.source}, {self.status})"


class DenyListEntry(NoDeleteModel):
    family = models.CharField(max_length=8, choices=AddressFamily.choices)
    address = models.CharField(max_length=ADDRESS_MAX, help_text="Canonical form (see normalize.py)")
    listed_as = models.CharField(max_length=ADDRESS_MAX, help_text="As the staff member entered it")
    reason = models.TextField()
    status = models.CharField(max_length=8, choices=DenyListStatus.choices, default=DenyListStatus.ACTIVE)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removal_reason = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "deny list entries"
        ordering = ["-added_at", "-id"]
        permissions = [("manage_denylist", "Can add and remove addresses on the operator's deny list")]
        constraints = [
            models.UniqueConstraint(
                fields=["family", "address"], condition=Q(status="active"), name="denylist_active_unique"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="active", removed_by__isnull=True, removed_at__isnull=True)
                    | Q(status="removed", removed_by__isnull=False, removed_at__isnull=False)
                ),
                name="denylist_removal_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.status})"
