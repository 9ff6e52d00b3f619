"""App config for the shared pieces (status audit trail, append-only guards)."""

from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "nexora.common"
    label = "common"
    verbose_name = "Common"
