"""``devnet_pay TOPUP_ID [--amount X]``: pay a devnet top-up from anvil's unlocked dev account.

The same service as the top-up page's "Pay from the devnet wallet" button
(``payments.services.devnet.topup_devnet_pay``); a refusal is a ``CommandError`` naming its code,
and nothing is sent.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nexora.common.errors import NexoraError
from payments.selectors.topups import topup_get
from payments.services.devnet import topup_devnet_pay


class Command(BaseCommand):
    help = "Pay a top-up on the local devnet from anvil's dev account (the quoted amount, or --amount)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topup_id", help="The top-up's id (shown on its page and by the API).")
        parser.add_argument("--amount", help="Amount in the asset (e.g. 0.005 or 12.5); default: the quote.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            topup = topup_get(options["topup_id"])
            payment = topup_devnet_pay(topup=topup, amount=options["amount"])
        except NexoraError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        network = topup.network
        self.stdout.write(
            f"Sent {payment.amount} {network.asset} from {payment.sender} to {topup.address.address} "
            f"(top-up {topup.public_id}, {network.code}): transaction {payment.tx_hash}"
        )
