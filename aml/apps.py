"""AML: rule engine, sanctions screening, KYC levels, cases (built in the AML and review issues)."""

from django.apps import AppConfig


class AmlConfig(AppConfig):
    name = "aml"
    verbose_name = "AML"

    def ready(self) -> None:
        # payments never imports aml: the engine answers payments' hook from here.
        from aml.screeners import screeners_register

        screeners_register()
