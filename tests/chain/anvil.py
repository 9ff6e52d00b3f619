"""A local EVM chain for tests: ``payments.devnet.Anvil`` plus the node-control methods only tests use.

The process lifecycle (binary from ``node_modules``, free port with retries, log tail on failure,
SIGTERM then SIGKILL, ``atexit`` safety net) and the JSON-RPC / web3.py helpers (deploy, mint,
transfer, balances, receipts) live in the runtime module ``payments.devnet``, which the demo uses
too; see its docstring. This subclass adds what rewrites a chain's history, which only tests and
benchmarks do:

- :meth:`Anvil.mine`, :meth:`Anvil.set_automine`, :meth:`Anvil.snapshot` / :meth:`Anvil.revert`,
  :meth:`Anvil.block` (raw JSON-RPC block by height or tag);
- :meth:`Anvil.reorg` uses ``anvil_reorg``: params ``[depth, [[tx, block_offset], ...]]``. It drops
  the last ``depth`` blocks (their transactions vanish: no receipt, not back in the mempool) and
  mines ``depth`` new blocks at the same heights with new hashes; ``tx`` (a transaction request
  dict or a raw signed transaction hex) goes into the block ``block_offset`` after the common
  ancestor.

A pytest fixture is three lines::

    @pytest.fixture
    def anvil() -> Iterator[Anvil]:
        with Anvil() as chain:
            yield chain
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from payments import devnet
from payments.devnet import (
    ARTIFACTS_DIR,
    CHAIN_ID,
    HOST,
    TOKEN_ABI,
    AnvilError,
    AnvilNotInstalledError,
    PortInUse,
    RpcError,
    _quantity,
    find_anvil_binary,
    free_port,
    load_artifact,
)

# A transaction for anvil_reorg: a request dict (anvil signs it) or a raw signed transaction (hex).
TxData: TypeAlias = Mapping[str, Any] | str


class Anvil(devnet.Anvil):
    """One anvil process for a test: a fresh chain with ten funded dev accounts."""

    def block(self, number: int | str = "latest", *, full: bool = False) -> dict[str, Any]:
        """The block by height (or tag) as raw JSON-RPC (hex strings)."""
        tag = hex(number) if isinstance(number, int) else number
        block: dict[str, Any] | None = self.rpc("eth_getBlockByNumber", [tag, full])
        if block is None:
            raise AnvilError(f"no block {number}")
        return block

    def mine(self, blocks: int = 1) -> int:
        """Mine ``blocks`` blocks now (pending transactions go into the first); new height."""
        self.rpc("anvil_mine", [hex(blocks)])
        return self.block_number()

    def set_automine(self, enabled: bool) -> None:
        """Automine on: a block per transaction. Off: transactions wait for :meth:`mine`."""
        self.rpc("evm_setAutomine", [enabled])

    def snapshot(self) -> str:
        """Snapshot the whole chain state; :meth:`revert` returns to it (once)."""
        snapshot_id: str = self.rpc("evm_snapshot")
        return snapshot_id

    def revert(self, snapshot_id: str) -> bool:
        """Go back to a snapshot: later blocks and transactions are discarded."""
        return bool(self.rpc("evm_revert", [snapshot_id]))

    def reorg(self, depth: int, transactions: Sequence[tuple[TxData, int]] = ()) -> None:
        """Replace the last ``depth`` blocks with ``depth`` new ones (new hashes, same heights).

        ``transactions`` are ``(tx, block_offset)`` pairs to include in the new branch; ``tx`` is
        a request dict (``from``, ``to``, ``value``, ``data``...; ints become hex quantities) or
        a raw signed transaction as hex; offset 0 is the first block after the common ancestor.
        """
        pairs = [[self._tx_json(tx), offset] for tx, offset in transactions]
        self.rpc("anvil_reorg", [depth, pairs])

    @staticmethod
    def _tx_json(tx: TxData) -> Any:
        if isinstance(tx, str):
            return tx
        return {key: _quantity(value) for key, value in tx.items()}


__all__ = [
    "ARTIFACTS_DIR",
    "CHAIN_ID",
    "HOST",
    "TOKEN_ABI",
    "Anvil",
    "AnvilError",
    "AnvilNotInstalledError",
    "PortInUse",
    "RpcError",
    "TxData",
    "find_anvil_binary",
    "free_port",
    "load_artifact",
]
