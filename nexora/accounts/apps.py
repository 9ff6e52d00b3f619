"""Users, client profiles, staff roles and service API keys."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "nexora.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from nexora.accounts.roles import roles_sync_receiver

        post_migrate.connect(roles_sync_receiver, dispatch_uid="nexora.accounts.roles_sync")
