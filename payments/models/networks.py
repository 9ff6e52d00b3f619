"""Networks (one asset on one chain), their watch-only keys and the deposit addresses issued.

* ``Network`` is configuration: loaded from YAML/JSON by ``networks_load`` or edited in the admin.
  Its ``xpub`` is an ACCOUNT-level extended PUBLIC key; ``clean()`` refuses a private key with
  ``payments.derivation.xpub_validate`` (the same check the loader runs). Fields that give
  meaning to recorded amounts (family, chain, token contract, decimals) cannot change once the
  network has top-ups (``payments.services.networks``).
* ``DerivationCounter`` hands out receive indexes per (family, key). Networks of one family may
  share a key (ETH and USDT on Ethereum usually do); they then share the counter, so an index is
  never issued twice for one key, whatever the network.
* ``DepositAddress`` is an issued address: (family, address) and (family, key, index) are unique,
  and the row is never deleted (PROTECT everywhere): the address belongs to its client forever.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from nexora.accounts.models import ClientProfile
from nexora.common.errors import NexoraError
from payments.models.fields import ChainAmountField


class Family(models.TextChoices):
    EVM = "evm", "EVM (Ethereum, BSC, Polygon, ...)"
    TRON = "tron", "TRON"
    BITCOIN = "bitcoin", "Bitcoin"


def key_fingerprint(xpub: str) -> str:
    """A stable, non-reversible name for a key, safe to show and log."""
    return hashlib.sha256(xpub.strip().encode()).hexdigest()[:16]


class Network(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    family = models.CharField(max_length=8, choices=Family.choices)
    chain_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="EVM chain id.")
    asset = models.CharField(max_length=12, help_text="Asset symbol, also the rate symbol (USDT, ETH).")
    token_contract = models.CharField(max_length=64, blank=True, help_text="Empty for the native coin.")
    decimals = models.PositiveSmallIntegerField()
    quote_places = models.PositiveSmallIntegerField(help_text="Decimals shown and quoted (rounded up).")
    confirmations = models.PositiveIntegerField()
    min_amount = ChainAmountField(help_text="Smallest payment credited, in base units.")
    node_urls = models.JSONField(default=list, blank=True, help_text="Node / API URLs, tried in order.")
    xpub = models.TextField(help_text="Account-level extended PUBLIC key (never a private key).")
    testnet = models.BooleanField(default=False)
    quote_window_s = models.PositiveIntegerField(default=1800)
    monitor_window_s = models.PositiveIntegerField(default=7 * 24 * 3600)
    underpay_tolerance = models.DecimalField(
        max_digits=5, decimal_places=4, default=Decimal(0), help_text="Fraction, e.g. 0.01 for 1 %."
    )
    block_time_s = models.PositiveIntegerField(default=12)
    explorer_tx_url = models.CharField(max_length=200, blank=True, help_text="With {tx}.")
    explorer_address_url = models.CharField(max_length=200, blank=True, help_text="With {address}.")
    options = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(decimals__lte=36), name="network_decimals_range"),
            models.CheckConstraint(
                condition=Q(quote_places__lte=models.F("decimals")), name="network_places"
            ),
            models.CheckConstraint(condition=Q(confirmations__gte=1), name="network_confirmations_min"),
            models.CheckConstraint(
                condition=Q(underpay_tolerance__gte=0, underpay_tolerance__lt=1),
                name="network_tolerance_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        from payments.services.networks import network_in_use_check, network_validate

        try:
            network_validate(self)
            network_in_use_check(self)
        except NexoraError as exc:
            raise ValidationError(
                {name: [e["message"] for e in errs] for name, errs in exc.fields.items()} or exc.message
            ) from None

    @property
    def is_token(self) -> bool:
        return bool(self.token_contract)

    @property
    def key_fingerprint(self) -> str:
        return key_fingerprint(self.xpub)

    def units_to_decimal(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.decimals)

    def display(self, units: int) -> str:
        """Base units as an asset amount string with no exponent and no trailing zeros beyond places."""
        value = self.units_to_decimal(units)
        text = f"{value:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text


class DerivationCounter(models.Model):
    family = models.CharField(max_length=8, choices=Family.choices)
    key_fingerprint = models.CharField(max_length=16)
    next_index = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["family", "key_fingerprint"], name="counter_family_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.family}/{self.key_fingerprint}: next {self.next_index}"


class DepositAddress(models.Model):
    family = models.CharField(max_length=8, choices=Family.choices)
    address = models.CharField(max_length=100)
    key_fingerprint = models.CharField(max_length=16)
    index = models.PositiveBigIntegerField()
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="addresses")
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="deposit_addresses")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["family", "address"], name="address_family_unique"),
            models.UniqueConstraint(
                fields=["family", "key_fingerprint", "index"], name="address_index_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family}:{self.address} (#{self.index})"

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError("Issued addresses are never deleted: they belong to their client.")
