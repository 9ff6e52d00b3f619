"""Look-alike token transfers: tokens from contracts other than the network's official one, sent to
one of our addresses.

A scam token named "USDT" (or an address-poisoning dust transfer) can reach a deposit address; it
is worth nothing and is never credited, but staff should see it: a client may believe they paid,
and a pattern of them says something about who sends them. The scanner records each one here
(``payments.services.lookalikes``), unique on (network, tx hash, index) like a deposit, so
re-reading a block or a second worker adds nothing. A row is never a deposit and never touches the
ledger; a reorg that moves the transfer to another block updates its block, one that drops it
leaves the row as a record of what was seen.
"""

from __future__ import annotations

from django.db import models

from payments.models.fields import ChainAmountField
from payments.models.networks import DepositAddress, Network


class LookalikeTransfer(models.Model):
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="lookalike_transfers")
    tx_hash = models.CharField(max_length=80)
    index = models.PositiveIntegerField()
    contract = models.CharField(max_length=64, help_text="The contract that emitted the transfer.")
    address = models.ForeignKey(DepositAddress, on_delete=models.PROTECT, related_name="lookalike_transfers")
    sender = models.CharField(max_length=100, blank=True)
    amount = ChainAmountField(help_text="In the look-alike contract's own base units (decimals unknown).")
    block_height = models.PositiveBigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "tx_hash", "index"], name="lookalike_transfer_unique")
        ]
        indexes = [models.Index(fields=["network", "-created_at"]), models.Index(fields=["contract"])]

    def __str__(self) -> str:
        return f"look-alike {self.network_id}:{self.tx_hash}:{self.index} from {self.contract}"
