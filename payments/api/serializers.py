"""Serializers for balances, the ledger, charges, networks and top-ups: parse and render only."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nexora.common.api import MoneyField
from nexora.common.money import money_parse
from payments.models import Charge, Deposit, LedgerEntry, Network, TopUp
from payments.selectors.topups import (
    client_deposit_status,
    explorer_tx_url,
    topup_confirmations,
    topup_paid_units,
    topup_payment_uri,
    topup_under_review,
)


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


# --- networks and top-ups ------------------------------------------------------------------------


class NetworkSerializer(serializers.ModelSerializer):
    min_amount = serializers.SerializerMethodField(help_text="Smallest payment credited, in asset units.")
    token_contract = serializers.CharField(help_text="Empty for the native coin.")

    class Meta:
        model = Network
        fields = ["code", "name", "family", "chain_id", "asset", "token_contract", "decimals", "quote_places",
                  "confirmations", "min_amount", "quote_window_s"]  # fmt: skip

    def get_min_amount(self, network: Network) -> str:
        return network.display(network.min_amount)


class TopUpCreateSerializer(serializers.Serializer):
    network = serializers.CharField(max_length=32, help_text="A network code from /api/v1/networks/.")
    amount = MoneyField(help_text='Decimal string in the account currency, e.g. "50.00".')


class TxHashSerializer(serializers.Serializer):
    tx_hash = serializers.CharField(max_length=100, help_text="EVM: 0x + 64 hex; TRON and Bitcoin: 64 hex.")


class TxLookupSerializer(serializers.Serializer):
    tx_hash = serializers.CharField()
    status = serializers.CharField(
        help_text="found (recorded), pending (a token payment in the mempool), queued (looked up in the "
        "background) or not_found (the background lookup has not found it yet)"
    )


class DepositSerializer(serializers.Serializer):
    tx_hash = serializers.CharField()
    index = serializers.IntegerField()
    amount = serializers.SerializerMethodField(help_text="Asset units received.")
    confirmations = serializers.IntegerField()
    status = serializers.SerializerMethodField(
        help_text="confirming, credited, under_review, received (not credited automatically: "
        "support will contact you), failed or reversed."
    )
    credited_amount = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    late = serializers.BooleanField()
    explorer_url = serializers.SerializerMethodField()
    seen_at = serializers.DateTimeField()

    def get_amount(self, deposit: Deposit) -> str:
        return deposit.network.display(deposit.amount)

    def get_status(self, deposit: Deposit) -> str:
        return client_deposit_status(deposit)

    def get_explorer_url(self, deposit: Deposit) -> str:
        return explorer_tx_url(deposit.network, deposit.tx_hash)


class TopUpSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    network = serializers.CharField(source="network.code")
    asset = serializers.CharField(source="network.asset")
    address = serializers.CharField(source="address.address")
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    currency = serializers.CharField()
    crypto_amount = serializers.SerializerMethodField(help_text="Exact amount to send, in asset units.")
    rate = serializers.SerializerMethodField(help_text="Locked price of one asset unit in the currency.")
    payment_uri = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    monitor_until = serializers.DateTimeField()
    status = serializers.CharField(help_text="awaiting_payment, confirming, completed, expired or invalid")
    exception = serializers.CharField(help_text="none, underpaid, overpaid, paid_late or below_minimum")
    under_review = serializers.SerializerMethodField()
    required_confirmations = serializers.IntegerField(source="network.confirmations")
    confirmations = serializers.SerializerMethodField()
    paid_crypto = serializers.SerializerMethodField(help_text="Asset units received so far.")
    credited_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    deposits = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_crypto_amount(self, topup: TopUp) -> str:
        return topup.network.display(topup.crypto_amount)

    def get_rate(self, topup: TopUp) -> str:
        return f"{topup.rate.normalize():f}"

    def get_payment_uri(self, topup: TopUp) -> str:
        return topup_payment_uri(topup)

    def get_under_review(self, topup: TopUp) -> bool:
        return topup_under_review(topup)

    def get_confirmations(self, topup: TopUp) -> int:
        return topup_confirmations(topup)

    def get_paid_crypto(self, topup: TopUp) -> str:
        return topup.network.display(topup_paid_units(topup))

    @extend_schema_field(DepositSerializer(many=True))
    def get_deposits(self, topup: TopUp) -> list[dict[str, Any]]:
        deposits = [d for d in topup.deposits.all() if d.network_id == topup.network_id]
        for deposit in deposits:
            deposit.network = topup.network
            deposit.topup = topup
        return list(DepositSerializer(deposits, many=True).data)


class NewTopUpSerializer(TopUpSerializer):
    """A top-up created by this very request: no payment can have reached an address issued a moment
    ago, so the deposit-derived fields are rendered without asking the database for deposits."""

    def get_confirmations(self, topup: TopUp) -> int:
        return 0

    def get_paid_crypto(self, topup: TopUp) -> str:
        return topup.network.display(0)

    def get_deposits(self, topup: TopUp) -> list[dict[str, Any]]:
        return []


# --- staff: scanner health -----------------------------------------------------------------------


class NetworkHealthSerializer(serializers.Serializer):
    """``payments.selectors.scanner.NetworkHealth``; null numbers: no pass has succeeded yet."""

    code = serializers.CharField()
    name = serializers.CharField()
    family = serializers.CharField()
    enabled = serializers.BooleanField()
    block_time_s = serializers.IntegerField()
    confirmations = serializers.IntegerField()
    head = serializers.IntegerField(allow_null=True, help_text="Chain head read by the last pass.")
    cursor = serializers.IntegerField(allow_null=True, help_text="Last block fully processed.")
    lag_blocks = serializers.IntegerField(allow_null=True, help_text="head - cursor.")
    lag_seconds = serializers.IntegerField(
        allow_null=True, help_text="Estimated: lag_blocks * block_time_s + seconds_since_success."
    )
    last_scan_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    seconds_since_success = serializers.IntegerField(allow_null=True)
    error_count = serializers.IntegerField(help_text="Failed passes, ever.")
    consecutive_errors = serializers.IntegerField(help_text="Failed passes since the last success.")
    last_error = serializers.CharField(allow_blank=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    open_alerts = serializers.IntegerField(help_text="Unresolved operator alerts of the network.")
    status = serializers.ChoiceField(choices=["ok", "lagging", "failing", "not_started", "disabled"])
