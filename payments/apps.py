"""Payments: the money ledger, holds and charges (later: networks, top-ups, deposits, chains)."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from nexora.common.metrics import collector_register
        from payments.metrics import (
            deposit_metrics,
            lookalike_metrics,
            payout_metrics,
            scanner_metrics,
            topup_metrics,
        )

        collector_register("scanner", scanner_metrics)
        collector_register("lookalikes", lookalike_metrics)
        collector_register("topups", topup_metrics)
        collector_register("deposits", deposit_metrics)
        collector_register("payouts", payout_metrics)
