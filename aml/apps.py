"""AML: rule engine, sanctions screening, KYC levels, cases (built in the AML and review issues).

``ready`` registers the engine's screeners with payments' hook, the re-screening of recent deposits
on a sanctions import, the assessments' collector for ``/metrics`` (``aml.metrics``) and their data
categories with the privacy registry (``aml.privacy``).
"""

from django.apps import AppConfig


class AmlConfig(AppConfig):
    name = "aml"
    verbose_name = "AML"

    def ready(self) -> None:
        # payments never imports aml: the engine answers payments' hook from here, and re-screens
        # recent deposits when a sanctions import lists new addresses.
        from aml.metrics import assessment_metrics
        from aml.privacy import categories_register
        from aml.sanctions.signals import sanctions_listed
        from aml.screeners import screeners_register
        from aml.tasks import rescreen_on_listing
        from nexora.common.metrics import collector_register

        screeners_register()
        sanctions_listed.connect(rescreen_on_listing, dispatch_uid="aml-rescreen-on-listing")
        collector_register("aml_assessments", assessment_metrics)
        categories_register()
