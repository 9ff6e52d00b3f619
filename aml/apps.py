"""AML: rule engine, sanctions screening, KYC levels, cases (built in the AML and review issues)."""

from django.apps import AppConfig


class AmlConfig(AppConfig):
    name = "aml"
    verbose_name = "AML"
