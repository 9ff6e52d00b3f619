"""AML: rule engine, sanctions screening, KYC levels, cases (built in the AML and review issues).

``ready`` registers the assessments' collector for ``/metrics`` (``aml.metrics``) and their data
categories with the privacy registry (``aml.privacy``).
"""

from django.apps import AppConfig


class AmlConfig(AppConfig):
    name = "aml"
    verbose_name = "AML"

    def ready(self) -> None:
        from aml.metrics import assessment_metrics
        from aml.privacy import categories_register
        from nexora.common.metrics import collector_register

        collector_register("aml_assessments", assessment_metrics)
        categories_register()
