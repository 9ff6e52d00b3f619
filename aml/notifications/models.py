"""What the client is told, how it reached them, and the state of the Telegram link.

* ``Notification`` is one fact told to one client: an event code from the catalogue
  (``aml.notifications.events``) and its parameters, never free text. It is unique per
  (client, event, dedupe key), so a retried task or a second announcement of the same fact never
  notifies twice. It *is* the client-area inbox entry; ``read_at`` is its read state.
* ``NotificationDelivery`` is the delivery log: one row per (notification, channel) for the
  outside channels (e-mail, Telegram), with its status (``queued -> sent | failed``,
  ``failed -> queued`` when retried; only ``delivery_transition`` moves it), attempts, the last
  error (never a credential) and timestamps.
* ``TelegramLinkCode`` is a one-time code a client sends to the bot to link their chat. Only a
  SHA-256 of the code is stored (the code is random, so an unsalted hash is enough, as for API keys).
* ``TelegramUpdate`` records each Bot API update handled (unique ``update_id``), so an update that
  the webhook redelivers, or polling fetches twice, is handled once; ``TelegramPollState`` is the
  persisted ``getUpdates`` offset of the polling mode.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q
from django.utils import timezone

from nexora.accounts.models import ClientProfile


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    TELEGRAM = "telegram", "Telegram"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="notifications")
    event = models.CharField(max_length=32, help_text="Event code from aml.notifications.events.")
    params = models.JSONField(default=dict, blank=True, help_text="Only values the client already knows.")
    dedupe_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "event", "dedupe_key"], name="notification_once"),
        ]
        indexes = [
            models.Index(fields=["client", "-created_at", "-id"], name="notification_inbox"),
            # The header's unread count reads only this small index.
            models.Index(fields=["client"], condition=Q(read_at__isnull=True), name="notification_unread"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} for client #{self.client_id} ({self.dedupe_key})"


class NotificationDelivery(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.PROTECT, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="delivery_once_per_channel"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "notification deliveries"
        permissions = [("retry_delivery", "Can queue a failed notification delivery again")]

    def __str__(self) -> str:
        return f"{self.channel} delivery #{self.pk} ({self.status})"


def link_code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class TelegramLinkCode(models.Model):
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="telegram_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Telegram link code for client #{self.client_id}"


class TelegramUpdate(models.Model):
    update_id = models.BigIntegerField(unique=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Telegram update {self.update_id}"


class TelegramPollState(models.Model):
    """A single row (pk 1): the next ``getUpdates`` offset and when it last moved."""

    offset = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Telegram polling offset {self.offset}"
