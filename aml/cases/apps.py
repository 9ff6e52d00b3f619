"""Cases: what a human must decide about a client's held money or frozen account.

``ready`` subscribes the case actions to payments' ``payout_confirmed`` (a confirmed refund closes
its case: ``aml.cases.actions.case_refund_settled``), and registers the open cases' collector for
``/metrics`` (``aml.cases.metrics``) and the cases' data categories, erasure check and
document-file cleanup (``aml.cases.privacy``).
"""

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "aml.cases"
    label = "cases"
    verbose_name = "AML cases"

    def ready(self) -> None:
        from aml.cases.actions import listeners_register
        from aml.cases.metrics import case_metrics
        from aml.cases.privacy import categories_register
        from nexora.common.metrics import collector_register

        listeners_register()
        collector_register("aml_cases", case_metrics)
        categories_register()
