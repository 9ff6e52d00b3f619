"""App config for the shared pieces (status audit trail, append-only guards, logs, health probes)."""

from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "nexora.common"
    label = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from nexora.common.logs import celery_signals_connect

        celery_signals_connect()
