"""The treasury's CSV: one row per approved refund that still has to be sent.

The treasury signs the transactions offline (the server holds no keys), so the file carries
everything a signer needs and nothing it must not have: the payout's public id (to record the hash
against), the network and its chain id, the asset and token contract, the destination, the exact
integer ``units`` to send (and the same amount as an asset decimal, for a human to check), and
the fiat amount it refunds. Cells a spreadsheet would run as a formula (starting ``=``, ``+``,
``-``, ``@``, tab or carriage return) are prefixed with an apostrophe: a reference typed by staff
can never execute on the signer's machine.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

from payments.models import PayoutRequest

COLUMNS = (
    "payout", "reference", "network", "family", "chain_id", "asset", "token_contract", "destination",
    "units", "amount", "fiat_amount", "currency", "approved_by", "approved_at",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def payout_row(payout: PayoutRequest) -> list[str]:
    network = payout.network
    values = (
        payout.public_id, payout.reference, network.code, network.family, network.chain_id or "",
        network.asset, network.token_contract, payout.destination, payout.units,
        network.display(payout.units), payout.amount, payout.currency,
        payout.approved_by.username if payout.approved_by else "",
        payout.approved_at.isoformat() if payout.approved_at else "",
    )  # fmt: skip
    return [_cell(v) for v in values]


def payouts_csv_write(stream: Writable, payouts: Iterable[PayoutRequest]) -> int:
    """Write the header and one row per payout to ``stream``; returns the number of payouts."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for payout in payouts:
        writer.writerow(payout_row(payout))
        count += 1
    return count
