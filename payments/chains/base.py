"""The one small interface every chain adapter implements, and the plain values it returns.

Design:

* An adapter speaks to one network's nodes or APIs (EVM JSON-RPC, TronGrid, Esplora) and returns
  frozen dataclasses. It never touches the ORM, never decides what a payment means and never
  credits anything: the scanner (``payments.scanner``) and the deposit services do that. This keeps
  adapters testable against a real node (anvil) or a local server answering in the documented
  shapes, and keeps the money logic in one place.
* A transfer is identified by ``(network, tx_hash, index)``: ``index`` is the log index for a
  token transfer, the output index for Bitcoin and the call's position in the transaction for a
  native EVM/TRON transfer (0 for the top-level call). That triple is unique in the database.
* Amounts are ``int`` base units; addresses are normalised (EVM checksummed, TRON base58 ``T...``,
  Bitcoin bech32 lower case) with ``payments.addresses.address_normalize`` so that matching
  against the watched set is a plain set lookup.
* ``NetworkSpec`` carries what an adapter needs from the network's configuration, built by the
  caller from the ``Network`` row, so an adapter can be used outside Django (bench, tests).
* The client's tx-hash fast path needs more than "the transfers, or nothing": whether the node
  knows the hash at all, whether the payment reverted, and token payments still waiting in the
  mempool. ``TxInspector.lookup`` answers that with a ``TxReport``; ``transaction`` is its
  ``transfers``. It is a protocol of its own so wrappers that serve only the scanner (bench,
  tests) need not implement it.
* ``confirmation_head`` is the one rule for counting confirmations on chains that declare
  finality (TRON's solidified block, an EVM node's ``finalized`` tag): a block counts as
  confirmed only once it is final AND has the configured confirmations.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    code: str
    family: str  # "evm" | "tron" | "bitcoin"
    urls: tuple[str, ...]
    chain_id: int | None = None
    token_contract: str = ""  # normalised; empty for the native coin
    decimals: int = 18
    testnet: bool = False
    api_key: str = ""
    timeout_s: float = 10.0
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BlockRef:
    height: int
    hash: str
    parent_hash: str
    timestamp: int = 0  # unix seconds


@dataclass(frozen=True, slots=True)
class Transfer:
    """One movement of value to a watched address, as the chain reports it."""

    tx_hash: str
    index: int
    recipient: str
    amount: int
    sender: str = ""  # "" when the chain has no single sender (Bitcoin with several inputs)
    contract: str = ""  # token contract; "" for the native coin
    block_height: int | None = None  # None while in the mempool
    block_hash: str | None = None
    success: bool = True  # False: the transaction reverted and moved nothing


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a block range held: the blocks read (for the cursor) and the matching transfers.

    ``foreign`` holds transfers to watched addresses from contracts other than the network's
    official token (look-alike "USDT"): never credited, recorded for staff.
    """

    blocks: tuple[BlockRef, ...]
    transfers: tuple[Transfer, ...]
    foreign: tuple[Transfer, ...] = ()


@dataclass(frozen=True, slots=True)
class TxReport:
    """What a node says about one transaction hash, for the addresses asked about.

    ``transfers`` pay the network's own asset to a watched address, with their final identity
    (``success=False``: the transaction reverted and moved nothing). ``unmined_tokens`` are token
    payments decoded from the call data of a transaction still in the mempool (or mined but not
    yet indexed): their log index, half of a deposit's identity, exists only once mined, so they
    are reported, never recorded.
    """

    known: bool = False  # the node has this hash (mined or waiting in its mempool)
    transfers: tuple[Transfer, ...] = ()
    unmined_tokens: tuple[Transfer, ...] = ()


class ChainError(Exception):
    """A node or API failed (network error, 5xx, bad answer). Transient: retry, fail over."""


class RateLimited(ChainError):
    """The provider said 429 / rate limit; back off before asking again."""


class RangeTooLarge(ChainError):
    """The provider refused a block range or capped its result; ask for a smaller range."""


class ChainAdapter(Protocol):
    spec: NetworkSpec

    def head(self) -> int:
        """Latest block height the node knows."""
        ...

    def final_height(self) -> int | None:
        """Height the chain itself calls final (TRON solidified), or None if it has no such notion."""
        ...

    def block_ref(self, height: int) -> BlockRef:
        """Hash and parent hash of the block at ``height`` (raises ChainError if unavailable)."""
        ...

    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        """Every block in ``start..end`` (inclusive) and the transfers in them to ``watched``."""
        ...

    def transaction(self, tx_hash: str, watched: Set[str]) -> tuple[Transfer, ...]:
        """The transfers of one transaction to ``watched`` (empty when unknown or irrelevant)."""
        ...


class TxInspector(Protocol):
    spec: NetworkSpec

    def head(self) -> int: ...

    def final_height(self) -> int | None: ...

    def block_ref(self, height: int) -> BlockRef: ...

    def lookup(self, tx_hash: str, watched: Set[str]) -> TxReport:
        """What the node knows of ``tx_hash``, as far as ``watched`` is concerned."""
        ...


def confirmation_head(adapter: ChainAdapter | TxInspector, head: int, confirmations: int) -> int:
    """The head to count confirmations against: ``head`` itself on chains without finality; on
    chains with it, at most ``final + confirmations - 1``, so ``head' - height + 1 >= confirmations``
    holds only for a block that is final and has ``confirmations`` blocks on top of it."""
    final = adapter.final_height()
    if final is None:
        return head
    return max(0, min(head, final + confirmations - 1))
