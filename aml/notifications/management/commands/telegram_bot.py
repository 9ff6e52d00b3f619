"""``manage.py telegram_bot info|set-webhook|delete-webhook|poll``: set up and check the bot.

* ``info``: ``getMe`` (is the token valid, which bot is it) and ``getWebhookInfo``;
* ``set-webhook``: registers ``NEXORA_SITE_URL/telegram/webhook/<secret>/`` with the secret as
  ``secret_token`` (Telegram sends it back in ``X-Telegram-Bot-Api-Secret-Token``);
* ``delete-webhook``: back to polling (``getUpdates`` is refused while a webhook is set);
* ``poll [--once]``: the polling loop in the foreground, for a deployment without beat.

The token is never printed.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from aml.notifications.events import site_url
from aml.notifications.linking import telegram_updates_poll
from aml.notifications.telegram import BotApiError, BotApiUnavailable, bot_call, bot_configured


class Command(BaseCommand):
    help = "Check the Telegram bot, register or remove its webhook, or poll its updates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["info", "set-webhook", "delete-webhook", "poll"])
        parser.add_argument("--once", action="store_true", help="poll: one round, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if not bot_configured():
            raise CommandError("NEXORA_TELEGRAM_BOT_TOKEN is not set.")
        action = options["action"].replace("-", "_")
        try:
            getattr(self, action)(**options)
        except (BotApiError, BotApiUnavailable) as exc:
            raise CommandError(f"Bot API: {exc}") from None

    def info(self, **options: Any) -> None:
        me = bot_call("getMe", {})
        hook = bot_call("getWebhookInfo", {})
        self.stdout.write(f"bot: @{me.get('username')} (id {me.get('id')})")
        configured = settings.NEXORA_TELEGRAM_BOT_USERNAME
        if configured != me.get("username"):
            self.stderr.write(f"NEXORA_TELEGRAM_BOT_USERNAME is {configured!r}: deep links would be wrong")
        self.stdout.write(f"webhook: {hook.get('url') or '(none: polling)'}")
        self.stdout.write(f"pending updates: {hook.get('pending_update_count', 0)}")
        if hook.get("last_error_message"):
            self.stdout.write(f"last webhook error: {hook['last_error_message']}")

    def set_webhook(self, **options: Any) -> None:
        secret = settings.NEXORA_TELEGRAM_WEBHOOK_SECRET
        if not secret:
            raise CommandError("NEXORA_TELEGRAM_WEBHOOK_SECRET is not set.")
        url = site_url(reverse("notifications:telegram-webhook", args=[secret]))
        bot_call("setWebhook", {"url": url, "secret_token": secret, "allowed_updates": ["message"]})
        self.stdout.write(
            self.style.SUCCESS("webhook registered at NEXORA_SITE_URL/telegram/webhook/<secret>/")
        )

    def delete_webhook(self, **options: Any) -> None:
        bot_call("deleteWebhook", {})
        self.stdout.write(self.style.SUCCESS("webhook removed: updates are now read by polling"))

    def poll(self, **options: Any) -> None:
        while True:
            handled = telegram_updates_poll()
            if handled:
                self.stdout.write(f"handled {handled} update(s)")
            if options["once"]:
                return
            time.sleep(settings.NEXORA_TELEGRAM_POLL_S)
