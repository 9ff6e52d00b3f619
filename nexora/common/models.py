"""Shared model pieces: append-only rows and the status-change audit trail.

``AppendOnlyModel`` refuses updates and deletes in the model layer (``save`` on an existing row,
``delete``, and queryset ``update``/``delete``). The database enforces the same with triggers on
PostgreSQL (see ``nexora.common.sql``), so raw SQL cannot bypass it either.

``append_only_purge`` is the single way an expirable append-only row (one with a retention
period, e.g. the security log) is deleted: only rows older than a cut-off, in a transaction that
declares that cut-off to the database trigger (``nexora.common.sql``).

``StatusChange`` is the one audit table that every ``<family>_transition`` writes to, in the same
database transaction as the compare-and-set of the status itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, NoReturn

from django.conf import settings
from django.db import connection, models, transaction


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an append-only row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; post a new row instead")

    def delete(self) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only and cannot be deleted")


class AppendOnlyModel(models.Model):
    objects: ClassVar[models.Manager] = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only and cannot be deleted")


def append_only_purge(queryset: models.QuerySet, *, before: datetime) -> int:
    """Delete the rows of ``queryset`` created before ``before``; the count deleted.

    For models whose table has the expirable trigger (``append_only_expirable_sql``); on a strict
    append-only table the database still refuses, whatever the cut-off."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('nexora.purge_before', %s, true)", [before.isoformat()])
        expired = queryset.filter(created_at__lt=before)
        deleted, _ = models.QuerySet.delete(expired)  # past the model layer's guard, on purpose
    return deleted


class StatusChange(AppendOnlyModel):
    """One row per status change of any model family: who moved what from where to where, why."""

    entity = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["entity", "entity_id", "created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.entity}#{self.entity_id}: {self.from_status or '∅'} → {self.to_status}"
