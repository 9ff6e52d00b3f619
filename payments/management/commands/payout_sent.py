"""``manage.py payout_sent PAYOUT_ID TX_HASH --user NAME``: record a refund's outgoing transaction.

The same service as the treasury page (``payout_mark_sent``): the user must hold
``payments.send_payout``; verification on chain is queued after the record commits.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nexora.accounts.models import User
from nexora.common.errors import NexoraError
from payments.selectors.payouts import payout_by_public_id
from payments.services.payouts import payout_mark_sent


class Command(BaseCommand):
    help = "Record the outgoing transaction hash of an approved refund (the treasury's step)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("payout", help="The payout's id, as in the CSV export.")
        parser.add_argument("tx_hash")
        parser.add_argument("--user", required=True, help="The treasury user recording it.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"]).first()
        try:
            if user is None:
                raise CommandError(f"no user {options['user']!r}")
            payout = payout_mark_sent(
                payout=payout_by_public_id(options["payout"]), actor=user, tx_hash=options["tx_hash"]
            )
        except NexoraError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"payout {payout.public_id}: {payout.status} {payout.tx_hash}")
