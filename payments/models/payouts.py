"""Payouts (refunds to source) and the refund addresses clients confirm for them.

* A ``PayoutRequest`` sends held money back out on chain: ``requested -> approved -> sent ->
  confirmed | failed``, or ``requested -> rejected`` (``payments.services.payouts``). The server
  holds no keys: the treasury signs offline and records the outgoing hash; the scanner's adapters
  verify it. The amount is fiat (Decimal at the currency quantum), ``units`` the integer base
  units to send at the rate of the request. The database refuses what must never happen whatever
  the code path: an approver who is the requester (four-eyes), an approved payout without its
  ledger capture, a sent one without a hash, a confirmed one without its settlement, and one
  outgoing transfer (network, hash, destination) recorded for two payouts.
* A ``RefundAddress`` is an address the client gave for a refund on one network, when the
  payment's source cannot be trusted to reach them (an exchange's shared hot wallet, a source
  that funded several clients, a Bitcoin payment with several inputs). It takes effect only once
  the client confirmed it (a second step): ``submitted -> confirmed``; a newer one supersedes it.
  At most one submitted and one confirmed address per (client, network).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from nexora.accounts.models import ClientProfile
from payments.models.fields import ChainAmountField
from payments.models.ledger import MONEY_DIGITS, MONEY_PLACES, Hold, LedgerTransaction
from payments.models.networks import Network
from payments.models.topups import RATE_DIGITS, RATE_PLACES


class RefundAddressStatus(models.TextChoices):
    SUBMITTED = "submitted", "Given, awaiting the client's confirmation"
    CONFIRMED = "confirmed", "Confirmed by the client"
    SUPERSEDED = "superseded", "Replaced by a newer address"


class RefundAddress(models.Model):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="refund_addresses")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="refund_addresses")
    address = models.CharField(max_length=100)
    status = models.CharField(
        max_length=12, choices=RefundAddressStatus.choices, default=RefundAddressStatus.SUBMITTED
    )
    reference = models.CharField(max_length=200, blank=True, help_text='What asked for it, e.g. "case:12".')
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "network"],
                condition=Q(status="submitted"),
                name="refund_address_one_submitted",
            ),
            models.UniqueConstraint(
                fields=["client", "network"],
                condition=Q(status="confirmed"),
                name="refund_address_one_confirmed",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(confirmed_at__isnull=False),
                name="refund_address_confirmed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"refund address {self.network_id}:{self.address} ({self.status})"


class PayoutStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved, waiting for the treasury"
    SENT = "sent", "Sent, being verified on chain"
    CONFIRMED = "confirmed", "Confirmed on chain"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"


class DestinationKind(models.TextChoices):
    SOURCE = "source", "The payment's source address"
    CLIENT_ADDRESS = "client_address", "An address the client gave and confirmed"


_APPROVED_OR_LATER = ("approved", "sent", "confirmed", "failed")


class PayoutRequest(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="payouts")
    hold = models.ForeignKey(Hold, on_delete=models.PROTECT, related_name="payouts")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="payouts")
    destination = models.CharField(max_length=100)
    destination_kind = models.CharField(max_length=16, choices=DestinationKind.choices)
    refund_address = models.ForeignKey(
        RefundAddress, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    source_address = models.CharField(max_length=100, blank=True, help_text="The payment's sender.")
    amount = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES)
    rate_sources = models.CharField(max_length=100)
    units = ChainAmountField(help_text="Base units to send.")
    status = models.CharField(max_length=12, choices=PayoutStatus.choices, default=PayoutStatus.REQUESTED)
    reason = models.TextField(help_text="Staff-facing; never shown to the client.")
    reference = models.CharField(max_length=200, blank=True, help_text='e.g. "case:12".')
    idempotency_key = models.CharField(max_length=200, blank=True)
    screening = models.CharField(max_length=8, default="allow", help_text="Verdict of the payout screening.")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_reason = models.TextField(blank=True, help_text="The approver's or rejecter's comment.")
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    capture_transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="payout_captured"
    )
    tx_hash = models.CharField(max_length=80, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_units = ChainAmountField(null=True, blank=True, help_text="What the chain shows arrived.")
    confirmations = models.PositiveIntegerField(default=0)
    verify_attempts = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    settle_transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="payout_settled"
    )
    return_hold = models.OneToOneField(
        Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="returned_payout"
    )
    failure_reason = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            ("request_payout", "Can request a refund to source"),
            ("approve_payout", "Can approve a refund requested by someone else"),
            ("send_payout", "Can export approved refunds and record their outgoing transactions"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(units__gt=0), name="payout_amounts_positive"
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="payout_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=_APPROVED_OR_LATER)
                | Q(approved_by__isnull=False, approved_at__isnull=False, capture_transaction__isnull=False),
                name="payout_approved_is_captured",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=("sent", "confirmed", "failed")) | ~Q(tx_hash=""),
                name="payout_sent_has_hash",
            ),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | Q(settle_transaction__isnull=False),
                name="payout_confirmed_is_settled",
            ),
            models.UniqueConstraint(
                fields=["network", "tx_hash", "destination"],
                condition=~Q(tx_hash=""),
                name="payout_transfer_unique",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="payout_idempotency_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["client", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"payout#{self.pk} {self.amount} {self.currency} -> {self.destination} ({self.status})"
