"""Recording look-alike token transfers for staff (``payments.models.lookalikes``).

The scanner hands over ``ScanResult.foreign`` in the same database transaction that records the
range's deposits and moves the cursor, so a range is recorded whole or not at all. The rows are
upserted on (network, tx hash, index): a re-read range or a second worker adds nothing, and a
transfer mined again in another block after a reorg gets its new block. Nothing here is credited.
"""

from __future__ import annotations

from collections.abc import Sequence

from payments.chains.base import Transfer
from payments.models import DepositAddress, LookalikeTransfer, Network


def lookalikes_record(*, network: Network, transfers: Sequence[Transfer]) -> list[LookalikeTransfer]:
    """Upsert the look-alike transfers to issued addresses; returns the rows written."""
    if not transfers:
        return []
    recipients = {t.recipient for t in transfers}
    addresses = dict(
        DepositAddress.objects.filter(family=network.family, address__in=recipients).values_list(
            "address", "pk"
        )
    )
    rows = {
        (t.tx_hash, t.index): LookalikeTransfer(
            network=network, tx_hash=t.tx_hash, index=t.index, contract=t.contract,
            address_id=addresses[t.recipient], sender=t.sender, amount=t.amount,
            block_height=t.block_height, block_hash=t.block_hash or "",
        )
        for t in transfers
        if t.recipient in addresses
    }  # fmt: skip
    return LookalikeTransfer.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["network", "tx_hash", "index"],
        update_fields=["block_height", "block_hash", "updated_at"],
    )
