"""Sanctions screening data: OFAC listings imported from files, and the operator's own deny list."""

from django.apps import AppConfig


class SanctionsConfig(AppConfig):
    name = "aml.sanctions"
    label = "sanctions"
    verbose_name = "Sanctions lists"
