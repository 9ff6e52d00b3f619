"""Payments: the money ledger, holds and charges (later: networks, top-ups, deposits, chains)."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from nexora.common.metrics import collector_register
        from payments.metrics import lookalike_metrics, scanner_metrics

        collector_register("scanner", scanner_metrics)
        collector_register("lookalikes", lookalike_metrics)
