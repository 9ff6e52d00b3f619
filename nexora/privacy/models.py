"""Erasure requests: a client asks to be forgotten; staff execute or refuse within the due date.

``status`` moves only through ``erasure_transition`` (``services/erasure.py``):
``pending -> completed | refused | withdrawn``. A client has at most one pending request (a
partial unique constraint). ``due_at`` is the answer deadline (30 days by default,
``NEXORA_ERASURE_DUE_DAYS``; the operator's policy section 2.3). ``kept`` records, when the request is
executed, what was kept and until when (``[{"category", "title", "count", "until", "basis"}]``),
so the client and an auditor can see it later; ``comment`` is the staff's answer to the client.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from nexora.accounts.models import ClientProfile


class ErasureStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    COMPLETED = "completed", _("Completed")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ErasureRequest(models.Model):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="erasure_requests")
    status = models.CharField(max_length=12, choices=ErasureStatus.choices, default=ErasureStatus.PENDING)
    due_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    kept = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("execute_erasure", "Can execute or refuse a client's erasure request")]
        constraints = [
            models.UniqueConstraint(
                fields=["client"], condition=Q(status="pending"), name="erasure_one_pending_per_client"
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"])]
        ordering = ["due_at", "id"]

    def __str__(self) -> str:
        return f"erasure #{self.pk} of client #{self.client_id} ({self.status})"
