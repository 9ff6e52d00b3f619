"""The local EVM devnet: anvil from the project's npm dependency, and a client that drives it.

Used by the demo (``manage.py demo_run``, ``manage.py devnet_pay``, "Pay from the devnet wallet")
and, through ``tests/chain/anvil.py``, by the chain tests and benchmarks. Nothing here touches the
ORM, and nothing here runs in production (the callers refuse it there).

Design:

- The binary comes from the project's own ``node_modules`` (npm package
  ``@foundry-rs/anvil-linux-amd64``, pinned in ``package.json``), never from PATH or the network,
  so every machine runs the same anvil. ``ANVIL_BIN`` overrides the path (for another platform).
- :class:`DevnetClient` talks to a running node by URL, in two layers: :meth:`~DevnetClient.rpc`
  is raw JSON-RPC (httpx, with a timeout, node errors raised as :class:`RpcError`), and
  :attr:`~DevnetClient.w3` is a web3.py client for contract work with the committed artifacts in
  ``contracts/artifacts``. Transactions are sent from anvil's unlocked dev accounts with
  ``eth_sendTransaction``, so no key is ever handled here. Amounts are ``int`` base units.
- :class:`Anvil` is a client that owns its node process. ``port=0`` (the default) picks a free
  port by binding port 0 and retries with a new one if anvil lost it to a race, so tests can run
  in parallel; a fixed port (the demo's 8545) that is taken is a :class:`PortInUse` error that
  names the port, before anything is started. Output goes to a log file whose tail is included
  when startup fails. Startup waits until ``eth_chainId`` answers; :meth:`Anvil.stop` sends
  SIGTERM, then SIGKILL after 5 s, and is also registered with ``atexit``. On Linux the child asks
  the kernel to SIGTERM it when its parent dies (``PR_SET_PDEATHSIG``), so even a parent killed
  with SIGKILL leaves no anvil behind. ``own_process_group`` keeps a terminal's Ctrl-C away from
  the child, so its owner decides the order of shutdown (the demo stops the scanner first).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import orjson
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

ROOT = Path(__file__).resolve().parents[1]
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
TOKEN_ABI = "TetherToken"  # noqa: S105 - an artifact name, not a secret
_PR_SET_PDEATHSIG = 1

# npm's platform package names, keyed by Python's view of the platform.
_NPM_OS = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}
_NPM_ARCH = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or refused a request."""


class AnvilNotInstalledError(AnvilError):
    """The anvil binary is not in node_modules (and ANVIL_BIN does not point to it)."""


class PortInUse(AnvilError):
    """The fixed port asked for is already taken by another process."""

    def __init__(self, host: str, port: int, what: str = "anvil") -> None:
        super().__init__(f"port {port} on {host} is already in use, so {what} cannot listen there")
        self.host, self.port = host, port


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


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether a listener holds ``host:port``. SO_REUSEADDR as servers set it, so a port whose old
    connections linger in TIME_WAIT after a previous run still counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGTERM a child when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


def _quantity(value: Any) -> Any:
    """JSON-RPC encodes integers as hex quantities; leave everything else as given."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return hex(value)


def process_stop(process: subprocess.Popen[Any], *, grace: float = STOP_GRACE_S) -> None:
    """SIGTERM, then SIGKILL if it has not exited after ``grace`` seconds; waits (no zombie)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


@cache
def load_artifact(name: str) -> Mapping[str, Any]:
    """The compiled artifact ``contracts/artifacts/<name>.json`` (abi, bytecode, ...)."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise AnvilError(f"no artifact {path}; run `npm run build:contracts`")
    artifact: Mapping[str, Any] = orjson.loads(path.read_bytes())
    return artifact


class DevnetClient:
    """JSON-RPC and web3.py access to a running devnet node (anvil) at ``url``."""

    def __init__(self, url: str = "", *, rpc_timeout: float = RPC_TIMEOUT_S) -> None:
        self.url = url
        self.rpc_timeout = rpc_timeout
        self._http: httpx.Client | None = httpx.Client(timeout=rpc_timeout) if url else None
        self._w3: Web3 | None = None
        self._accounts: list[ChecksumAddress] | None = None
        self._request_id = 0

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        self._w3 = None
        self._accounts = None

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

    def chain_id(self) -> int:
        return int(self.rpc("eth_chainId"), 16)

    @property
    def accounts(self) -> list[ChecksumAddress]:
        """anvil's funded dev accounts (10 000 ETH each), unlocked for eth_sendTransaction."""
        if self._accounts is None:
            self._accounts = [Web3.to_checksum_address(a) for a in self.rpc("eth_accounts")]
        return list(self._accounts)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def eth_balance(self, address: str, block: int | str = "latest") -> int:
        tag = hex(block) if isinstance(block, int) else block
        return int(self.rpc("eth_getBalance", [Web3.to_checksum_address(address), tag]), 16)

    def nonce(self, address: str) -> int:
        """Transactions sent from ``address`` so far (including pending ones)."""
        return int(self.rpc("eth_getTransactionCount", [Web3.to_checksum_address(address), "pending"]), 16)

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
        recipient = Web3.to_checksum_address(to)
        data = self.contract(TOKEN_ABI, token).encode_abi("transfer", args=[recipient, amount])
        return self.send_transaction({"from": self._sender(sender), "to": token, "data": data})

    def token_balance(self, token: str, owner: str) -> int:
        data = self.contract(TOKEN_ABI, token).encode_abi("balanceOf", args=[Web3.to_checksum_address(owner)])
        call = {"to": Web3.to_checksum_address(token), "data": data}
        return int(self.rpc("eth_call", [call, "latest"]), 16)

    def send_eth(self, to: str, value: int, *, sender: str | None = None) -> str:
        """A plain value transfer of ``value`` wei; tx hash."""
        return self.send_transaction({"from": self._sender(sender), "to": to, "value": value})

    def send_transaction(self, tx: Mapping[str, Any]) -> str:
        """``eth_sendTransaction`` from an unlocked dev account; the node fills in gas, fees and the
        nonce (ints become hex quantities). Raw JSON-RPC, so every failure is an httpx error or
        :class:`RpcError`; the hash is returned without waiting for the block."""
        request = {key: _quantity(value) for key, value in tx.items()}
        if "to" in request:
            request["to"] = Web3.to_checksum_address(request["to"])
        return str(self.rpc("eth_sendTransaction", [request]))

    def _sender(self, sender: str | None) -> ChecksumAddress:
        return Web3.to_checksum_address(sender) if sender else self.accounts[0]


class Anvil(DevnetClient):
    """One anvil process: a fresh chain with funded dev accounts, and a client bound to it."""

    def __init__(
        self,
        *,
        block_time: int | None = None,
        chain_id: int = CHAIN_ID,
        accounts: int = 10,
        port: int = 0,
        host: str = HOST,
        log_path: Path | None = None,
        binary: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        rpc_timeout: float = RPC_TIMEOUT_S,
        extra_args: Sequence[str] = (),
        own_process_group: bool = False,
    ) -> None:
        """``block_time`` (seconds) switches from automine (the default) to interval mining;
        ``port=0`` picks a free port."""
        super().__init__(rpc_timeout=rpc_timeout)
        self.block_time = block_time
        self.expected_chain_id = chain_id
        self.account_count = accounts
        self.host = host
        self.fixed_port = port
        self.port = port
        self.log_path = log_path
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self.own_process_group = own_process_group
        self._process: subprocess.Popen[bytes] | None = None
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
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> Self:
        """Start anvil and wait until it answers; retry on a free port taken in the meantime."""
        if self._process is not None:
            raise AnvilError("this Anvil is already started")
        binary = self.binary or find_anvil_binary()
        if self.fixed_port and port_in_use(self.host, self.fixed_port):
            raise PortInUse(self.host, self.fixed_port)
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="anvil-", suffix=".log")
            os.close(handle)
            self.log_path, self._owns_log = Path(name), True
        # A process that dies without stop() must not leave an anvil behind.
        atexit.register(self.stop)
        self._http = httpx.Client(timeout=self.rpc_timeout)
        attempts = 1 if self.fixed_port else PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self._listen_on(self.fixed_port or free_port(self.host))
            self._spawn(binary)
            try:
                self._wait_ready()
                return self
            except AnvilError:
                exited = self._process is not None and self._process.poll() is not None
                clash = exited and self._port_clash()
                self._terminate()
                if not clash or attempt == attempts:
                    self.stop()
                    if clash:
                        raise PortInUse(self.host, self.port) from None
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _listen_on(self, port: int) -> None:
        self.port = port
        self.url = f"http://{self.host}:{port}"

    def _command(self, binary: Path) -> list[str]:
        command = [str(binary), "--host", self.host, "--port", str(self.port)]
        command += ["--chain-id", str(self.expected_chain_id), "--accounts", str(self.account_count)]
        if self.block_time is not None:
            command += ["--block-time", str(self.block_time)]
        return command + list(self.extra_args)

    def _spawn(self, binary: Path) -> None:
        assert self.log_path is not None
        with self.log_path.open("ab") as log:
            # The child keeps its own copy of the descriptor; ours can close at once.
            self._process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                self._command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # preexec_fn is unsafe only with threads forking at the same time: callers start
                # their nodes before their own threads.
                preexec_fn=die_with_parent(),
                process_group=0 if self.own_process_group else None,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise AnvilError(f"anvil exited during startup:\n{self._log_tail()}")
            try:
                chain_id = self.chain_id()
            except (httpx.TransportError, RpcError):
                time.sleep(0.05)
                continue
            if chain_id != self.expected_chain_id:
                raise AnvilError(f"{self.url} answers chain id {chain_id}, not {self.expected_chain_id}")
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
        if process is not None:
            process_stop(process)

    def stop(self) -> None:
        """Stop anvil (SIGKILL after 5 s), close the clients, delete a temp log. Idempotent."""
        self._terminate()
        self.close()
        atexit.unregister(self.stop)
        if self._owns_log and self.log_path is not None:
            # Startup failures already carry the log tail in their message.
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._owns_log = None, False
