"""A local EVM chain for tests: starts anvil on loopback and drives it over JSON-RPC.

Design:

- The binary comes from the project's own ``node_modules`` (npm package
  ``@foundry-rs/anvil-linux-amd64``, pinned in ``package.json``), never from PATH or the network,
  so every machine runs the same anvil. ``ANVIL_BIN`` overrides the path (for another platform).
- Each :class:`Anvil` is an isolated chain on ``127.0.0.1`` and a free port (picked by binding
  port 0), so tests can run in parallel (pytest-xdist). A port lost to a race between picking and
  anvil's bind is retried with a new port. anvil's output goes to a log file, whose tail is
  included in the error when startup fails.
- Startup waits until ``eth_chainId`` answers (20 s by default); :meth:`Anvil.stop` sends SIGTERM
  and SIGKILL after 5 s. The class is a context manager, so a pytest fixture is three lines::

      @pytest.fixture
      def anvil() -> Iterator[Anvil]:
          with Anvil() as chain:
              yield chain

- Two layers: :meth:`Anvil.rpc` is raw JSON-RPC (httpx, with a timeout, errors raised as
  :class:`RpcError`) for the node-control methods (mining, snapshots, reorgs); :attr:`Anvil.w3`
  is a web3.py client for contract work (deploy, mint, transfer) with the committed artifacts in
  ``contracts/artifacts``. Transactions are sent from anvil's unlocked dev accounts with
  ``eth_sendTransaction``, so no keys are handled here.
- Reorgs use ``anvil_reorg``: params ``[depth, [[tx, block_offset], ...]]``. It drops the last
  ``depth`` blocks (their transactions vanish: no receipt, not back in the mempool) and mines
  ``depth`` new blocks at the same heights with new hashes; ``tx`` (a transaction request dict or a
  raw signed transaction hex) goes into the block ``block_offset`` after the common ancestor.
- Amounts are ``int`` base units (wei, token units) everywhere; no float touches a value.
"""

from __future__ import annotations

import atexit
import os
import platform
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeAlias

import httpx
import orjson
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt, Wei

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = ROOT / "contracts" / "artifacts"
NODE_MODULES = ROOT / "node_modules"
ANVIL_BIN_ENV = "ANVIL_BIN"
CHAIN_ID = 31337
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 20.0
RPC_TIMEOUT_S = 10.0
STOP_GRACE_S = 5.0
RECEIPT_TIMEOUT_S = 20.0
PORT_ATTEMPTS = 3
# The token helpers call mint/transfer/balanceOf through this artifact's ABI. The selectors are the
# same for every test token, and transact() ignores return values, so it serves FakeUSDT too.
TOKEN_ABI = "TetherToken"

# A transaction for anvil_reorg: a request dict (anvil signs it) or a raw signed transaction (hex).
TxData: TypeAlias = Mapping[str, Any] | str

# npm's platform package names, keyed by Python's view of the platform.
_NPM_OS = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}
_NPM_ARCH = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or refused a request."""


class AnvilNotInstalledError(AnvilError):
    """The anvil binary is not in node_modules (and ANVIL_BIN does not point to it)."""


class RpcError(AnvilError):
    """A JSON-RPC error object returned by the node."""

    def __init__(self, method: str, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: [{code}] {message}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


def find_anvil_binary() -> Path:
    """Return the anvil executable installed by ``npm ci``, or raise a clear error."""
    override = os.environ.get(ANVIL_BIN_ENV)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise AnvilNotInstalledError(f"{ANVIL_BIN_ENV}={override} is not an executable file")
    for path in _binary_candidates():
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise AnvilNotInstalledError(
        f"anvil not found in {NODE_MODULES}. Run `make install` (or `npm ci` in {ROOT}) to "
        f"install the pinned @foundry-rs/anvil binary, or set {ANVIL_BIN_ENV}."
    )


def _binary_candidates() -> list[Path]:
    """The native binary of this platform's package first, then npm's bin link."""
    name = "anvil.exe" if platform.system() == "Windows" else "anvil"
    npm_os = _NPM_OS.get(platform.system(), "unknown")
    npm_arch = _NPM_ARCH.get(platform.machine(), "unknown")
    package = NODE_MODULES / "@foundry-rs" / f"anvil-{npm_os}-{npm_arch}"
    return [package / "bin" / name, NODE_MODULES / ".bin" / name]


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@cache
def load_artifact(name: str) -> Mapping[str, Any]:
    """The compiled artifact ``contracts/artifacts/<name>.json`` (abi, bytecode, ...)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise AnvilError(f"no artifact {path}; run `npm run build:contracts`")
    artifact: Mapping[str, Any] = orjson.loads(path.read_bytes())
    return artifact


def _quantity(value: Any) -> Any:
    """JSON-RPC encodes integers as hex quantities; leave everything else as given."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return hex(value)


class Anvil:
    """One anvil process: a fresh chain with ten funded dev accounts."""

    def __init__(
        self,
        *,
        block_time: int | None = None,
        chain_id: int = CHAIN_ID,
        accounts: int = 10,
        log_path: Path | None = None,
        binary: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        rpc_timeout: float = RPC_TIMEOUT_S,
        extra_args: Sequence[str] = (),
    ) -> None:
        """``block_time`` (seconds) switches from automine (the default) to interval mining."""
        self.block_time = block_time
        self.chain_id = chain_id
        self.account_count = accounts
        self.log_path = log_path
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.rpc_timeout = rpc_timeout
        self.extra_args = tuple(extra_args)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None
        self._w3: Web3 | None = None
        self._accounts: list[ChecksumAddress] | None = None
        self._request_id = 0
        self._owns_log = False

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start anvil and wait until it answers; retry on a port taken in the meantime."""
        if self._process is not None:
            raise AnvilError("this Anvil is already started")
        binary = self.binary or find_anvil_binary()
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="anvil-", suffix=".log")
            os.close(handle)
            self.log_path, self._owns_log = Path(name), True
        # A test run that dies without stop() must not leave an anvil behind.
        atexit.register(self.stop)
        self._http = httpx.Client(timeout=self.rpc_timeout)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = free_port()
            self._spawn(binary)
            try:
                self._wait_ready()
                return self
            except AnvilError:
                exited = self._process is not None and self._process.poll() is not None
                self._terminate()
                if not (exited and self._port_clash()) or attempt == PORT_ATTEMPTS:
                    self.stop()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _command(self, binary: Path) -> list[str]:
        command = [str(binary), "--host", HOST, "--port", str(self.port)]
        command += ["--chain-id", str(self.chain_id), "--accounts", str(self.account_count)]
        if self.block_time is not None:
            command += ["--block-time", str(self.block_time)]
        return command + list(self.extra_args)

    def _spawn(self, binary: Path) -> None:
        assert self.log_path is not None
        with self.log_path.open("ab") as log:
            # The child keeps its own copy of the descriptor; ours can close at once.
            self._process = subprocess.Popen(
                self._command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise AnvilError(f"anvil exited during startup:\n{self._log_tail()}")
            try:
                chain_id = int(self.rpc("eth_chainId"), 16)
            except (httpx.TransportError, RpcError):
                time.sleep(0.05)
                continue
            if chain_id != self.chain_id:
                raise AnvilError(f"{self.url} answers chain id {chain_id}, not {self.chain_id}")
            return
        waited = self.startup_timeout
        raise AnvilError(f"anvil did not answer within {waited} s:\n{self._log_tail()}")

    def _port_clash(self) -> bool:
        return "address already in use" in self._log_tail().lower()

    def _log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(empty log)"

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_GRACE_S)

    def stop(self) -> None:
        """Stop anvil (SIGKILL after 5 s), close the clients, delete a temp log. Idempotent."""
        self._terminate()
        if self._http is not None:
            self._http.close()
            self._http = None
        self._w3 = None
        self._accounts = None
        atexit.unregister(self.stop)
        if self._owns_log and self.log_path is not None:
            # Startup failures already carry the log tail in their message.
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._owns_log = None, False

    # -- raw JSON-RPC ------------------------------------------------------------------------

    def rpc(self, method: str, params: Sequence[Any] | None = None) -> Any:
        """Call one JSON-RPC method and return its ``result``; raise :class:`RpcError`."""
        if self._http is None:
            raise AnvilError("anvil is not running; use `with Anvil() as chain:` or start()")
        self._request_id += 1
        payload = {"jsonrpc": "2.0", "id": self._request_id, "method": method}
        payload["params"] = list(params or [])
        response = self._http.post(
            self.url,
            content=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        response.raise_for_status()
        body = orjson.loads(response.content)
        error = body.get("error")
        if error is not None:
            code, message = error.get("code", 0), error.get("message", "")
            raise RpcError(method, code, message, error.get("data"))
        return body.get("result")

    @property
    def accounts(self) -> list[ChecksumAddress]:
        """anvil's funded dev accounts (10 000 ETH each), unlocked for eth_sendTransaction."""
        if self._accounts is None:
            self._accounts = [Web3.to_checksum_address(a) for a in self.rpc("eth_accounts")]
        return list(self._accounts)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

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

    # -- web3.py layer -----------------------------------------------------------------------

    @property
    def w3(self) -> Web3:
        """A web3.py client bound to this node (same timeout as :meth:`rpc`)."""
        if self._http is None:
            raise AnvilError("anvil is not running")
        if self._w3 is None:
            provider = Web3.HTTPProvider(
                self.url,
                request_kwargs={"timeout": self.rpc_timeout},
                exception_retry_configuration=None,
            )
            self._w3 = Web3(provider)
        return self._w3

    def contract(self, artifact_name: str, address: str) -> Contract:
        abi = load_artifact(artifact_name)["abi"]
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def receipt(self, tx_hash: str, *, timeout: float = RECEIPT_TIMEOUT_S) -> TxReceipt:
        """Wait for a transaction's receipt (it must be mined: automine, interval or mine())."""
        return self.w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=timeout)

    def deploy(self, artifact_name: str, *args: Any, sender: str | None = None) -> ChecksumAddress:
        """Deploy a committed artifact, wait for it to be mined, return the contract address."""
        artifact = load_artifact(artifact_name)
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx_hash = factory.constructor(*args).transact({"from": self._sender(sender)})
        receipt = self.receipt(tx_hash.to_0x_hex())
        if receipt["status"] != 1 or receipt["contractAddress"] is None:
            raise AnvilError(f"deploying {artifact_name} failed: {dict(receipt)}")
        return receipt["contractAddress"]

    def transact(
        self,
        artifact_name: str,
        address: str,
        function: str,
        *args: Any,
        sender: str | None = None,
        value: int = 0,
        gas: int | None = None,
    ) -> str:
        """Send a contract call as a transaction; return its hash (0x hex), not waiting.

        Give ``gas`` to send a call that reverts: without it the node estimates gas, the
        estimate reverts and nothing is sent; with it the failed transaction is mined.
        """
        call = getattr(self.contract(artifact_name, address).functions, function)(*args)
        tx: dict[str, Any] = {"from": self._sender(sender), "value": value}
        if gas is not None:
            tx["gas"] = gas
        return str(call.transact(tx).to_0x_hex())

    def token_mint(self, token: str, to: str, amount: int, *, sender: str | None = None) -> str:
        """Mint ``amount`` base units to ``to`` (sender must be the deployer); tx hash."""
        to_address = Web3.to_checksum_address(to)
        return self.transact(TOKEN_ABI, token, "mint", to_address, amount, sender=sender)

    def token_transfer(self, token: str, to: str, amount: int, *, sender: str | None = None) -> str:
        """``transfer(to, amount)`` from ``sender``; tx hash."""
        to_address = Web3.to_checksum_address(to)
        return self.transact(TOKEN_ABI, token, "transfer", to_address, amount, sender=sender)

    def token_balance(self, token: str, owner: str) -> int:
        balance_of = self.contract(TOKEN_ABI, token).functions.balanceOf
        return int(balance_of(Web3.to_checksum_address(owner)).call())

    def send_eth(self, to: str, value: int, *, sender: str | None = None) -> str:
        """A plain value transfer of ``value`` wei; tx hash."""
        to_address = Web3.to_checksum_address(to)
        tx: TxParams = {"from": self._sender(sender), "to": to_address, "value": Wei(value)}
        return str(self.w3.eth.send_transaction(tx).to_0x_hex())

    def eth_balance(self, address: str, block: int | str = "latest") -> int:
        tag = hex(block) if isinstance(block, int) else block
        return int(self.rpc("eth_getBalance", [Web3.to_checksum_address(address), tag]), 16)

    def _sender(self, sender: str | None) -> ChecksumAddress:
        return Web3.to_checksum_address(sender) if sender else self.accounts[0]
