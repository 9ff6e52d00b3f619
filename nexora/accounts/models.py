"""Who uses Nexora: clients (the hosting company's customers), staff, and billing API keys.

* ``User`` is Django's user with an e-mail; staff are users with ``is_staff`` and a role group
  (see ``roles.py``).
* ``ClientProfile`` exists for clients only: account currency, interface language, Telegram chat,
  notification preferences and the account status (active, frozen, terminated). The status only
  changes through ``account_transition`` (``services.py``).
* ``ApiKey`` authenticates the operator's billing system (service to service). Only a SHA-256 of
  the key is stored; the key itself is shown once, when created.
* ``SecurityEvent`` is the security log (``nexora.accounts.security``): logins, logouts, password
  and two-factor changes, lockouts, staff actions, with IP and user agent. It is the ONLY table
  that stores IP addresses (minimisation). Append-only: the model refuses updates and deletes, and
  PostgreSQL refuses them too, except the retention purge's deletion of rows past their period.
* A client account is *closed* when it is terminated (``closed_at``, the clock of the account data's
  retention period) and *anonymised* when the retention purge or an erasure request has removed
  the person from it (``anonymised_at``; ``nexora.privacy``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from nexora.common.models import AppendOnlyModel


class User(AbstractUser):
    email = models.EmailField(blank=True)

    @property
    def is_client(self) -> bool:
        return hasattr(self, "client_profile")

    def save(self, *args: Any, **kwargs: Any) -> None:
        # ``set_password`` leaves the raw password in ``_password`` until the next save: that save
        # is a password change, wherever it came from (client area, admin, shell), so the security
        # log hears of every one. A new user's first password is not a change.
        changed = getattr(self, "_password", None) is not None and not self._state.adding
        super().save(*args, **kwargs)
        if changed:
            from nexora.accounts.security import SecurityKind, security_event_log

            security_event_log(user=self, kind=SecurityKind.PASSWORD_CHANGED)


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FROZEN = "frozen", "Frozen"
    TERMINATED = "terminated", "Terminated"


class Language(models.TextChoices):
    EN = "en", "English"
    RU = "ru", "Русский"
    UK = "uk", "Українська"


class Currency(models.TextChoices):
    USD = "USD", "US dollar"
    EUR = "EUR", "Euro"


class ClientProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="client_profile")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.EN)
    telegram_chat_id = models.CharField(max_length=32, blank=True)
    notify_email = models.BooleanField(default=True)
    notify_telegram = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When the account was terminated.")
    anonymised_at = models.DateTimeField(
        null=True, blank=True, help_text="When the person was removed from this account (privacy)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            ("view_client_data", "Can view any client's profile, balance and ledger"),
            ("freeze_account", "Can freeze a client account pending review"),
            ("unfreeze_account", "Can unfreeze a client account"),
            ("terminate_account", "Can terminate a client account"),
            ("approve_second", "Can give the second approval of a four-eyes action"),
        ]

    def __str__(self) -> str:
        return f"client #{self.pk} ({self.user.username})"

    @property
    def can_be_charged(self) -> bool:
        return self.status == AccountStatus.ACTIVE


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A service credential. ``scopes`` is a space-separated list, e.g. ``charges:write``."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.CharField(max_length=200, default="charges:write")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes.split()


class SecurityEvent(AppendOnlyModel):
    """One security-relevant event. ``user`` is whose account it concerns (for a staff action: the
    staff member who acted); ``username`` is what was typed at a failed login (never the password)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="security_events",
    )
    kind = models.CharField(max_length=40)
    username = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["kind", "user", "created_at"]),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.username or self.user_id} {self.created_at:%Y-%m-%d %H:%M}"
