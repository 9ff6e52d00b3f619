"""Operator alerts: what the system could not decide alone and an operator must look at.

Raised by the scanner (a credited deposit removed by a reorg deeper than the confirmations, a
reversal that the client's balance can no longer cover) and shown to staff. One alert per
(kind, deposit): a condition seen on every scan raises one alert, not one per scan.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from payments.models.networks import Network
from payments.models.topups import Deposit


class AlertKind(models.TextChoices):
    DEEP_REORG = "deep_reorg", "A credited deposit left the chain"
    REVERSAL_BLOCKED = "reversal_blocked", "A reorged credit could not be reversed"
    DEPOSIT_REVERSED = "deposit_reversed", "A credit was reversed after a deep reorg"


class OperatorAlert(models.Model):
    kind = models.CharField(max_length=24, choices=AlertKind.choices)
    network = models.ForeignKey(
        Network, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    deposit = models.ForeignKey(
        Deposit, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "deposit"],
                condition=Q(deposit__isnull=False),
                name="alert_kind_deposit_unique",
            )
        ]
        indexes = [models.Index(fields=["resolved_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:60]}"
