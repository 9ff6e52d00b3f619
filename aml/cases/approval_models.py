"""Four-eyes approvals: a staff decision on a case that waits for a second, different lead.

An ``Approval`` is written when a case action needs a second pair of eyes (``aml.cases.actions``:
a release above ``NEXORA_FOUR_EYES_RELEASE_ABOVE``, any release of a sanctions or freeze case, an
unfreeze). It records what was asked (``action`` and its ``params``, amounts as strings), by whom
and why, and the case's status before it went ``pending_approval`` (``previous_status``: a rejection
puts the case back there). Nothing moves until a second compliance lead decides it.

``status`` moves ``pending -> approved | rejected | cancelled`` through ``APPROVAL_TRANSITIONS``
(``aml.cases.actions.approval_transition``), once: a decided approval is final. The rows are
append-only apart from that one move: the model refuses deletes, and on PostgreSQL a trigger
(migration 0004) refuses every DELETE and every UPDATE except a pending row's decision, which may
not touch what was requested. The CHECK ``approval_four_eyes`` makes the approver differ from the
requester in the database too, and ``approval_decided_consistent`` ties ``decided_at`` to the status.
At most one pending approval per case (a partial unique index): two officers cannot queue two
decisions at once.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from aml.cases.models import Case
from nexora.common.models import AppendOnlyError


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Awaiting a second approver"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class Approval(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="approvals")
    action = models.CharField(max_length=32, help_text="The case action waiting, e.g. release.")
    params = models.JSONField(default=dict, blank=True, help_text="Its parameters; amounts as strings.")
    previous_status = models.CharField(max_length=20, help_text="The case's status before the request.")
    status = models.CharField(max_length=12, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_comment = models.TextField()
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="pending"), name="approval_one_pending_per_case"
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="approval_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="approval_decided_consistent",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"])]
        ordering = ["requested_at", "id"]

    def __str__(self) -> str:
        return f"approval {self.public_id} ({self.action}) on case #{self.case_id}: {self.status}"

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Approval rows are kept; cancel a pending one instead")
