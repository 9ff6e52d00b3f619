"""The notifications app: at start-up it subscribes to payments' announcements and guards the logs.

``ready`` registers the listeners of ``payments.hooks`` (``deposit_seen``, ``deposit_credited``,
``payout_sent``) and puts a filter on the ``httpx`` logger that removes the bot token from request
lines: the Bot API carries the token in the URL path, and httpx logs every request URL at INFO.
It also registers the delivery log's collector for ``/metrics`` (``aml.notifications.metrics``)
and the notifications' data categories (``aml.notifications.privacy``).
"""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "aml.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from aml.notifications.listeners import listeners_register
        from aml.notifications.metrics import delivery_metrics
        from aml.notifications.privacy import categories_register
        from aml.notifications.telegram import token_filter_install
        from nexora.common.metrics import collector_register

        listeners_register()
        token_filter_install()
        collector_register("notification_deliveries", delivery_metrics)
        categories_register()
