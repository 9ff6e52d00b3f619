"""Cases: what a human must decide about a client's held money or frozen account."""

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "aml.cases"
    label = "cases"
    verbose_name = "AML cases"
