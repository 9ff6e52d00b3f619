"""Serializers for the ledger and charge endpoints: parse and render only, no logic."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from nexora.common.api import MoneyField
from nexora.common.money import money_parse
from payments.models import Charge, LedgerEntry


class BalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    available = serializers.DecimalField(max_digits=20, decimal_places=2)
    held = serializers.DecimalField(max_digits=20, decimal_places=2)
    account_status = serializers.CharField()


class LedgerEntrySerializer(serializers.ModelSerializer):
    kind = serializers.CharField(source="transaction.kind")
    reference = serializers.CharField(source="transaction.reference")
    description = serializers.CharField(source="transaction.description")
    balance = serializers.CharField(source="account.kind", help_text="available or held")

    class Meta:
        model = LedgerEntry
        fields = ["id", "created_at", "kind", "amount", "currency", "balance", "reference", "description"]


class ChargeCreateSerializer(serializers.Serializer):
    client = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    amount = MoneyField(help_text='Decimal string in the account currency, e.g. "12.50".')
    currency = serializers.CharField(max_length=3)
    description = serializers.CharField(max_length=500)
    order_ref = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    idempotency_key = serializers.CharField(
        min_length=1, max_length=150, help_text="Unique per charge; resend it to retry safely."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["amount"] = money_parse(attrs["amount"], currency=attrs["currency"])
        return attrs


class ChargeSerializer(serializers.ModelSerializer):
    client = serializers.IntegerField(source="client_id")
    ledger_transaction = serializers.IntegerField(source="ledger_transaction_id", allow_null=True)

    class Meta:
        model = Charge
        fields = [
            "id",
            "client",
            "amount",
            "currency",
            "description",
            "order_ref",
            "idempotency_key",
            "status",
            "ledger_transaction",
            "created_at",
        ]
