"""Which adapter serves a network: chosen by the network's chain family, nothing else.

Callers build a ``NetworkSpec`` from the ``Network`` row (``payments.services.networks.network_spec``)
and ask here for the adapter; tests and benchmarks pass their own spec (and, through the adapter
classes directly, their own ``httpx.Client``).
"""

from __future__ import annotations

from payments.chains.base import ChainAdapter, ChainError, NetworkSpec, TxInspector
from payments.chains.bitcoin import BitcoinAdapter
from payments.chains.evm import EvmAdapter
from payments.chains.tron import TronAdapter

ADAPTERS: dict[str, type[EvmAdapter] | type[TronAdapter] | type[BitcoinAdapter]] = {
    "evm": EvmAdapter,
    "tron": TronAdapter,
    "bitcoin": BitcoinAdapter,
}


def _adapter_class(spec: NetworkSpec) -> type[EvmAdapter] | type[TronAdapter] | type[BitcoinAdapter]:
    adapter_class = ADAPTERS.get(spec.family)
    if adapter_class is None:
        raise ChainError(f"{spec.code}: no chain adapter for family {spec.family!r}")
    return adapter_class


def adapter_for(spec: NetworkSpec) -> ChainAdapter:
    """A fresh adapter for ``spec`` (an unknown family is a configuration error: ChainError)."""
    return _adapter_class(spec)(spec)


def inspector_for(spec: NetworkSpec) -> TxInspector:
    """The same adapter, typed for one-transaction lookups (the tx-hash fast path)."""
    return _adapter_class(spec)(spec)
