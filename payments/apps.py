"""Payments: the money ledger, holds and charges (later: networks, top-ups, deposits, chains)."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"
