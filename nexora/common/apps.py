"""App config for the shared pieces (status audit trail, append-only guards, logs, health probes, metrics)."""

from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "nexora.common"
    label = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from nexora.common.http_metrics import counts_for_environment, counts_install, http_metrics
        from nexora.common.logs import celery_signals_connect
        from nexora.common.metrics import collector_register

        celery_signals_connect()
        counts_install(counts_for_environment())
        collector_register("http", http_metrics)
