"""Privacy: the personal-data registry, retention purge, the client's copy of their data, erasure."""

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "nexora.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from nexora.privacy.categories import categories_register

        categories_register()
