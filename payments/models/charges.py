"""Charges: the billing system debits a client's available balance for a service.

A charge is created in its final state when it can be decided at once (``posted``), or waits in
``pending_review`` when a screening hook asks for a human (the AML engine registers such a hook).
The idempotency key is unique: the billing system may retry freely.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from nexora.accounts.models import ApiKey, ClientProfile
from payments.models.ledger import MONEY_DIGITS, MONEY_PLACES, Hold, LedgerTransaction


class ChargeStatus(models.TextChoices):
    PENDING_REVIEW = "pending_review", "Pending review"
    POSTED = "posted", "Posted"
    REJECTED = "rejected", "Rejected"


class Charge(models.Model):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="charges")
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=500)
    order_ref = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=ChargeStatus.choices)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="charge"
    )
    hold = models.OneToOneField(Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="charge")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="charge_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="posted") | Q(ledger_transaction__isnull=False),
                name="charge_posted_has_transaction",
            ),
        ]
        indexes = [models.Index(fields=["client", "-created_at"])]

    def __str__(self) -> str:
        return f"charge#{self.pk} {self.amount} {self.currency} ({self.status})"
