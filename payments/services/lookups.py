"""Looking up a transaction hash the client pasted, so a payment is seen without waiting for a scan.

The lookup asks the network's adapter for that one transaction, restricted to the top-up's address,
and hands whatever it finds to ``deposit_observe``: the same path as the scanner, so a payment found
both ways is still one deposit (unique on network, tx hash, index) and credited once. A hash that is
not (yet) known stays ``not_found``; the task retries a few times, since a transaction may take a
while to reach the node the adapter asks.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F

from nexora.common.transitions import TransitionTable, transition_apply
from payments.chains.base import ChainAdapter
from payments.models import TxLookup, TxLookupStatus
from payments.services.deposits import deposit_observe, utc_from_timestamp
from payments.services.networks import network_spec

L = TxLookupStatus
TXLOOKUP_TRANSITIONS: TransitionTable = {
    L.QUEUED: frozenset({L.FOUND, L.NOT_FOUND}),
    L.NOT_FOUND: frozenset({L.FOUND}),
    L.FOUND: frozenset(),
}


def txlookup_transition(lookup: TxLookup, *, to: str, reason: str = "", **fields: Any) -> TxLookup:
    return transition_apply(
        lookup, table=TXLOOKUP_TRANSITIONS, to=to, entity="txlookup", reason=reason, extra_fields=fields
    )


def _default_adapter(lookup: TxLookup) -> ChainAdapter:
    from payments.chains.registry import adapter_for

    return adapter_for(network_spec(lookup.topup.network))


def tx_lookup_run(*, lookup_id: int, adapter: ChainAdapter | None = None) -> TxLookup:
    """Look the hash up once; record what was found. Raises the adapter's ChainError to retry."""
    lookup = TxLookup.objects.select_related("topup__network", "topup__address").get(pk=lookup_id)
    if lookup.status == L.FOUND:
        return lookup
    network = lookup.topup.network
    adapter = adapter or _default_adapter(lookup)
    TxLookup.objects.filter(pk=lookup.pk).update(attempts=F("attempts") + 1)
    transfers = adapter.transaction(lookup.tx_hash, {lookup.topup.address.address})
    head = adapter.head() if transfers else None
    for transfer in transfers:
        height = transfer.block_height
        block_time = utc_from_timestamp(adapter.block_ref(height).timestamp) if height is not None else None
        deposit_observe(network=network, transfer=transfer, head=head, block_time=block_time)
    target = L.FOUND if transfers else L.NOT_FOUND
    if target != lookup.status:
        txlookup_transition(lookup, to=target, reason=f"{len(transfers)} transfer(s) to the top-up's address")
    return lookup
