"""AML: rule engine, sanctions screening, KYC levels, cases (built in the AML and review issues)."""

from django.apps import AppConfig


class AmlConfig(AppConfig):
    name = "aml"
    verbose_name = "AML"

    def ready(self) -> None:
        # payments never imports aml: the engine answers payments' hook from here, and re-screens
        # recent deposits when a sanctions import lists new addresses.
        from aml.sanctions.signals import sanctions_listed
        from aml.screeners import screeners_register
        from aml.tasks import rescreen_on_listing

        screeners_register()
        sanctions_listed.connect(rescreen_on_listing, dispatch_uid="aml-rescreen-on-listing")
