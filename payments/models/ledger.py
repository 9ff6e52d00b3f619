"""The double-entry ledger that holds client money (ARCHITECTURE.md invariants 1, 5, 6).

Shape (after django-hordak): a ``LedgerTransaction`` groups two or more ``LedgerEntry`` rows whose
signed amounts sum to zero per currency. Sign convention: a positive entry increases what the
account holds; client accounts (what we owe the client) are positive, and the system accounts that
fund them (deposits clearing) go negative. Revenue from charges is positive.

Rules enforced twice, in the model layer and in PostgreSQL (migration ``0002_ledger_triggers``):

* entries and transactions are append-only: UPDATE and DELETE fail; corrections are reversals;
* a transaction that does not sum to zero per currency (or has fewer than two entries) fails at
  commit (deferred constraint triggers);
* a client account's balance can never be negative (CHECK constraint).

``LedgerAccount.balance`` is, for client accounts, a running total maintained by ``ledger_post`` in
the same database transaction that inserts the entries, under a row lock; ``ledger_sum_mismatches``
and the property tests prove it equals the sum of the entries. Reading one row instead of summing
history keeps balance checks O(1) under concurrency. System accounts keep no running total (it
would be a row every posting locks); their balance is summed from entries when asked.

A ``Hold`` tracks money moved from a client's ``available`` to ``held`` account (or a deposit
credited straight into ``held``), and how much of it is still held; releases and captures are
ledger transactions that point at the hold.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from nexora.accounts.models import ClientProfile
from nexora.common.models import AppendOnlyModel

MONEY_DIGITS, MONEY_PLACES = 20, 2  # fiat: Decimal at the currency quantum (0.01)


class AccountKind(models.TextChoices):
    AVAILABLE = "available", "Client available"
    HELD = "held", "Client held"
    SYSTEM = "system", "System"


class SystemAccount(models.TextChoices):
    DEPOSITS = "deposits_clearing", "Deposits clearing (crypto received)"
    REVENUE = "revenue", "Revenue from charges"
    REFUNDS = "refunds_clearing", "Refunds to source in progress"
    PAYOUTS = "payouts_settled", "Refunds settled on chain"


class LedgerAccount(models.Model):
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    client = models.ForeignKey(
        ClientProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    system_code = models.CharField(max_length=32, blank=True, choices=SystemAccount.choices)
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=Decimal("0.00")
    )
    allow_negative = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "kind", "currency"],
                condition=Q(client__isnull=False),
                name="ledger_account_unique_client_kind_currency",
            ),
            models.UniqueConstraint(
                fields=["system_code", "currency"],
                condition=Q(kind="system"),
                name="ledger_account_unique_system_currency",
            ),
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0),
                name="ledger_account_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=(Q(kind="system") & Q(client__isnull=True) & ~Q(system_code=""))
                | (~Q(kind="system") & Q(client__isnull=False) & Q(allow_negative=False)),
                name="ledger_account_kind_consistent",
            ),
        ]

    def __str__(self) -> str:
        owner = self.system_code if self.kind == AccountKind.SYSTEM else f"client#{self.client_id}"
        return f"{owner}:{self.kind}:{self.currency}"


class TransactionKind(models.TextChoices):
    TOPUP = "topup", "Top-up"
    CHARGE = "charge", "Charge"
    HOLD = "hold", "Hold"
    RELEASE = "release", "Release"
    CAPTURE = "capture", "Capture"
    REFUND = "refund", "Refund"
    REVERSAL = "reversal", "Reversal"
    ADJUSTMENT = "adjustment", "Adjustment"


class HoldStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class Hold(models.Model):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="holds")
    currency = models.CharField(max_length=3)
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    remaining = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.ACTIVE)
    reason = models.CharField(max_length=200)
    reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("manage_hold", "Can place, release and capture holds")]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")),
                name="hold_amounts_consistent",
            ),
            models.CheckConstraint(
                condition=Q(status="active", remaining__gt=0) | Q(status="closed", remaining=0),
                name="hold_status_matches_remaining",
            ),
        ]
        indexes = [models.Index(fields=["client", "status"])]

    def __str__(self) -> str:
        return f"hold#{self.pk} {self.remaining}/{self.amount} {self.currency} ({self.status})"


class LedgerTransaction(AppendOnlyModel):
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    client = models.ForeignKey(
        ClientProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    hold = models.ForeignKey(
        Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"txn#{self.pk} {self.kind} {self.reference}"


class LedgerEntry(AppendOnlyModel):
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_not_zero")]
        indexes = [models.Index(fields=["account", "-id"])]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} → account#{self.account_id}"
