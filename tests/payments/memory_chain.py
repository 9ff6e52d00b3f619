"""An in-memory chain that speaks the ``ChainAdapter`` interface, and a tiny scanner loop over it.

It lets the top-up lifecycle be tested end to end through the real deposit services (observe,
confirm, credit, reorg) without a node: payments go to a mempool, ``mine`` seals blocks with
hashes chained to their parents, ``reorg(depth)`` replaces the last blocks (their transfers are
dropped unless passed again). ``MemoryScanner.sync`` is the scanner's contract in miniature:
observe every transfer in every block up to the head, and report deposits whose block vanished.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Set
from dataclasses import dataclass, field, replace

from payments.chains.base import BlockRef, NetworkSpec, ScanResult, Transfer
from payments.models import Deposit, DepositAddress, DepositStatus, Network
from payments.services.deposits import deposit_observe, deposit_reorg, utc_from_timestamp

_tx_counter = itertools.count(1)


def _hash(*parts: object) -> str:
    return "0x" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


@dataclass
class MemoryChain:
    spec: NetworkSpec
    blocks: list[tuple[BlockRef, list[Transfer]]] = field(default_factory=list)
    mempool: list[Transfer] = field(default_factory=list)
    start_time: int = field(default_factory=lambda: int(time.time()))
    fork: int = 0

    def __post_init__(self) -> None:
        if not self.blocks:
            self._seal([])

    def pay(
        self,
        to: str,
        amount: int,
        *,
        contract: str | None = None,
        success: bool = True,
        sender: str = "0x000000000000000000000000000000000000dEaD",
        index: int = 0,
    ) -> Transfer:
        tx = Transfer(tx_hash=_hash("tx", next(_tx_counter)), index=index, recipient=to, amount=amount,
                      sender=sender, contract=self.spec.token_contract if contract is None else contract,
                      success=success)  # fmt: skip
        self.mempool.append(tx)
        return tx

    def _seal(self, transfers: list[Transfer]) -> None:
        height = len(self.blocks)
        parent = self.blocks[-1][0].hash if self.blocks else "0x" + "0" * 64
        ref = BlockRef(
            height, _hash("block", height, self.fork, parent), parent, self.start_time + 12 * height
        )
        self.blocks.append((ref, [replace(t, block_height=height, block_hash=ref.hash) for t in transfers]))

    def mine(self, count: int = 1) -> int:
        for _ in range(count):
            self._seal(self.mempool)
            self.mempool = []
        return self.head()

    def reorg(self, depth: int, keep: Set[str] = frozenset()) -> None:
        """Replace the last ``depth`` blocks; transfers whose hash is in ``keep`` go back to the mempool."""
        dropped = self.blocks[-depth:]
        del self.blocks[-depth:]
        self.fork += 1
        self.mempool = [replace(t, block_height=None, block_hash=None)
                        for _, txs in dropped for t in txs if t.tx_hash in keep] + self.mempool  # fmt: skip
        for _ in range(depth):
            self._seal([])

    # --- ChainAdapter ----------------------------------------------------------------------------

    def head(self) -> int:
        return len(self.blocks) - 1

    def final_height(self) -> int | None:
        return None

    def block_ref(self, height: int) -> BlockRef:
        return self.blocks[height][0]

    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        chosen = self.blocks[start : end + 1]
        transfers = tuple(t for _, txs in chosen for t in txs if t.recipient in watched)
        return ScanResult(blocks=tuple(ref for ref, _ in chosen), transfers=transfers)

    def transaction(self, tx_hash: str, watched: Set[str]) -> tuple[Transfer, ...]:
        everything = [t for _, txs in self.blocks for t in txs] + self.mempool
        return tuple(t for t in everything if t.tx_hash == tx_hash and t.recipient in watched)


def memory_chain(network: Network) -> MemoryChain:
    spec = NetworkSpec(code=network.code, family=network.family, urls=(), chain_id=network.chain_id,
                       token_contract=network.token_contract, decimals=network.decimals)  # fmt: skip
    return MemoryChain(spec)


class MemoryScanner:
    """Observe everything on the chain (and the mempool); report deposits whose block is gone."""

    def __init__(self, network: Network, chain: MemoryChain) -> None:
        self.network, self.chain = network, chain

    def sync(self) -> None:
        head = self.chain.head()
        watched = set(
            DepositAddress.objects.filter(family=self.network.family).values_list("address", flat=True)
        )
        live = set()
        for ref, txs in self.chain.blocks:
            for t in txs:
                if t.recipient in watched:
                    live.add((t.tx_hash, t.index))
                    deposit_observe(network=self.network, transfer=t, head=head,
                                    block_time=utc_from_timestamp(ref.timestamp))  # fmt: skip
        for t in self.chain.mempool:
            if t.recipient in watched:
                live.add((t.tx_hash, t.index))
                deposit_observe(network=self.network, transfer=t, head=head)
        active = (DepositStatus.PENDING, DepositStatus.CONFIRMED)
        for deposit in Deposit.objects.filter(network=self.network, status__in=active):
            if (deposit.tx_hash, deposit.index) not in live:
                deposit_reorg(deposit=deposit)
