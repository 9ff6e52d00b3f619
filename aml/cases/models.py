"""Cases: one open case per client gathers everything a reviewer must decide.

* A ``Case`` is opened by the first assessment that holds money or freezes the account, and joined
  by every later one while it is open (at most one non-closed case per client: a partial unique
  index, so two workers opening at once still make one case). ``band`` and ``sanctions`` only ever
  get stricter while the case is open. ``status`` moves through ``aml.cases.services.CASE_TRANSITIONS``.
* A ``CaseItem`` ties an assessment to the case (append-only: what was reviewed stays reviewed);
  the held money is found from the assessment's subject (the deposit's or the charge's hold).
* A ``CaseEvent`` is the case's audit trail: who, when, what, why, before and after, amounts.
  Append-only in the model layer and in PostgreSQL (invariant 7).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from aml.models import Assessment, Decision
from nexora.accounts.models import ClientProfile
from nexora.common.models import AppendOnlyModel
from payments.models.ledger import MONEY_DIGITS, MONEY_PLACES


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    AWAITING_CLIENT = "awaiting_client", "Waiting for the client"
    ESCALATED = "escalated", "Escalated"
    PENDING_APPROVAL = "pending_approval", "Decision awaiting a second approval"
    CLOSED = "closed", "Closed"


class CaseResolution(models.TextChoices):
    NONE = "", "—"
    RELEASED = "released", "Released"
    REFUNDED = "refunded", "Refunded to source"
    FALSE_POSITIVE = "false_positive", "Closed as a false positive"
    TERMINATED = "terminated", "Account terminated"
    REJECTED = "rejected", "Rejected"


class Case(models.Model):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="aml_cases")
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    resolution = models.CharField(max_length=20, choices=CaseResolution.choices, blank=True, default="")
    band = models.CharField(
        max_length=8,
        choices=[(Decision.REVIEW, "Review"), (Decision.FREEZE, "Freeze")],
        default=Decision.REVIEW,
    )
    sanctions = models.BooleanField(default=False)
    score = models.IntegerField(default=0, help_text="Highest score among the case's assessments.")
    summary = models.CharField(max_length=300, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="aml_cases"
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client"], condition=~Q(status="closed"), name="case_one_open_per_client"
            ),
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(resolution="")),
                name="case_closed_consistent",
            ),
        ]
        indexes = [models.Index(fields=["status", "opened_at"]), models.Index(fields=["assignee", "status"])]
        ordering = ["opened_at", "id"]
        permissions = [
            ("work_case", "Work AML cases: assign, note, release, request documents, refund, escalate"),
            ("decide_case", "Second approver of case decisions (four-eyes); unfreeze and terminate"),
        ]

    def __str__(self) -> str:
        return f"case #{self.pk} client #{self.client_id} ({self.status})"


class CaseItem(AppendOnlyModel):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="items")
    assessment = models.OneToOneField(Assessment, on_delete=models.PROTECT, related_name="case_item")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"case #{self.case_id} <- assessment #{self.assessment_id}"


class CaseEvent(AppendOnlyModel):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=32)
    comment = models.TextField(blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["case", "created_at"])]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"case #{self.case_id}: {self.action}"


# Document requests, client documents and statements, and the four-eyes approvals of case
# decisions (aml.cases.actions), live in their own modules; importing them here registers them.
from aml.cases.approval_models import Approval, ApprovalStatus  # noqa: E402, F401
from aml.cases.document_models import (  # noqa: E402, F401
    ClientDocument,
    ClientStatement,
    DocumentItem,
    DocumentRequest,
    DocumentRequestStatus,
    StatementKind,
)
