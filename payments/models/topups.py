"""Top-ups (a quote the client pays) and deposits (what the chain actually delivered).

* A ``TopUp`` locks a rate for ``quote_window_s`` (``expires_at``) and watches its address until
  ``monitor_until``. ``status`` is its lifecycle, ``exception`` how the payment differed from the
  quote, ``review`` the AML hold flag (the client only ever sees a neutral "under review"). All
  three change only through ``payments.services.topups`` transition functions.
* A ``Deposit`` is one on-chain transfer to an issued address, unique on (network, tx hash,
  index): the database itself makes a double credit of one transfer impossible. Its ``status``
  moves through ``DEPOSIT_TRANSITIONS``; its fiat value, rate and ledger transaction are written
  when it is credited.
* A ``TxLookup`` records a hash the client pasted and what looking it up found
  (``payments.services.lookups``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from nexora.accounts.models import ClientProfile
from payments.models.fields import ChainAmountField
from payments.models.ledger import MONEY_DIGITS, MONEY_PLACES, Hold, LedgerTransaction
from payments.models.networks import DepositAddress, Network

RATE_DIGITS, RATE_PLACES = 36, 18


class TopUpStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
    CONFIRMING = "confirming", "Confirming"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired"
    INVALID = "invalid", "Invalid"


class TopUpException(models.TextChoices):
    NONE = "none", "None"
    UNDERPAID = "underpaid", "Underpaid"
    OVERPAID = "overpaid", "Overpaid"
    PAID_LATE = "paid_late", "Paid late"
    BELOW_MINIMUM = "below_minimum", "Below minimum"


class ReviewFlag(models.TextChoices):
    NONE = "none", "None"
    ON_HOLD = "on_hold", "On hold"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"


class TopUp(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="topups")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="topups")
    address = models.OneToOneField(DepositAddress, on_delete=models.PROTECT, related_name="topup")
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    rate_sources = models.CharField(max_length=100)
    crypto_amount = ChainAmountField()
    status = models.CharField(
        max_length=20, choices=TopUpStatus.choices, default=TopUpStatus.AWAITING_PAYMENT
    )
    exception = models.CharField(max_length=20, choices=TopUpException.choices, default=TopUpException.NONE)
    review = models.CharField(max_length=12, choices=ReviewFlag.choices, default=ReviewFlag.NONE)
    credited_amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0)
    idempotency_key = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()
    monitor_until = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="topup_amount_positive"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="topup_rate_positive"),
            models.CheckConstraint(condition=Q(credited_amount__gte=0), name="topup_credited_nonnegative"),
            models.UniqueConstraint(
                fields=["client", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="topup_client_idempotency_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "-created_at"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"top-up {self.public_id} {self.amount} {self.currency} ({self.status})"


class DepositStatus(models.TextChoices):
    PENDING = "pending", "Pending confirmations"
    CONFIRMED = "confirmed", "Confirmed"
    CREDITED = "credited", "Credited"
    UNAPPLIED = "unapplied", "Recorded, not credited (staff)"
    FAILED = "failed", "Failed on chain"
    REORGED = "reorged", "Removed by a reorganisation"
    REVERSED = "reversed", "Credit reversed"


class UnappliedReason(models.TextChoices):
    NONE = "", "—"
    BELOW_MINIMUM = "below_minimum", "Below the network minimum"
    AFTER_MONITORING = "after_monitoring", "Arrived after the monitoring window"
    TOPUP_CLOSED = "topup_closed", "The top-up was closed"
    OTHER_NETWORK = "other_network", "Sent on another network than the top-up's"


class Deposit(models.Model):
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="deposits")
    tx_hash = models.CharField(max_length=80)
    index = models.PositiveIntegerField()
    address = models.ForeignKey(DepositAddress, on_delete=models.PROTECT, related_name="deposits")
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="deposits")
    topup = models.ForeignKey(TopUp, null=True, blank=True, on_delete=models.PROTECT, related_name="deposits")
    sender = models.CharField(max_length=100, blank=True)
    amount = ChainAmountField()
    block_height = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=80, blank=True)
    block_time = models.DateTimeField(null=True, blank=True)
    confirmations = models.PositiveIntegerField(default=0)
    orphaned_at_head = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Chain head when this credited transfer's block was orphaned."
    )
    status = models.CharField(max_length=12, choices=DepositStatus.choices, default=DepositStatus.PENDING)
    unapplied_reason = models.CharField(
        max_length=20, choices=UnappliedReason.choices, blank=True, default=""
    )
    seen_at = models.DateTimeField()
    late = models.BooleanField(default=False)
    rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES, null=True, blank=True)
    credited_amount = models.DecimalField(
        max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, null=True, blank=True
    )
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="deposit"
    )
    hold = models.OneToOneField(Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="deposit")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "tx_hash", "index"], name="deposit_transfer_unique"),
            models.CheckConstraint(
                condition=~Q(status="credited") | Q(credited_amount__isnull=False),
                name="deposit_credited_has_amount",
            ),
        ]
        indexes = [
            models.Index(fields=["network", "status"]),
            models.Index(fields=["tx_hash"]),
            # The AML engine's history query (aml.history): a client's credited deposits by time, and
            # which clients one source address funded. Migration 0008_aml_indexes.
            models.Index(
                fields=["client", "credited_at"], include=["credited_amount", "sender", "id"],
                condition=Q(credited_at__isnull=False), name="deposit_aml_client_credited",
            ),
            models.Index(
                fields=["sender", "client", "credited_at"], condition=~Q(sender=""),
                name="deposit_aml_sender_client",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"deposit {self.network_id}:{self.tx_hash}:{self.index} ({self.status})"


class TxLookupStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PENDING = "pending", "Seen waiting in the mempool"
    FOUND = "found", "Found"
    NOT_FOUND = "not_found", "Not found"


class TxLookup(models.Model):
    topup = models.ForeignKey(TopUp, on_delete=models.PROTECT, related_name="tx_lookups")
    tx_hash = models.CharField(max_length=80)
    status = models.CharField(max_length=12, choices=TxLookupStatus.choices, default=TxLookupStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topup", "tx_hash"], name="txlookup_topup_hash_unique")
        ]

    def __str__(self) -> str:
        return f"lookup {self.tx_hash} for {self.topup_id} ({self.status})"
