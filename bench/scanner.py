"""Chain scanner benchmark: the EVM scanner against a busy local chain (anvil) on PostgreSQL.

What it does, in order (one run, about three minutes on the 2-core VM):

1. Starts anvil (the pinned binary, ``tests.chain.anvil``), deploys the committed TetherToken
   artifact and mints it to the senders (automine on for this setup only, then off).
2. Creates a scratch database (``BENCH_DATABASE_URL``, default
   postgres://postgres@127.0.0.1:5432/nexora_bench_scanner), migrates it and loads two networks
   pointing at anvil: ``usdt-anvil`` (token_contract = the deployed TetherToken, chain id 31337)
   and ``eth-anvil`` (the native coin), both on the test watch-only key, 3 confirmations. It issues
   real top-ups with ``topup_create``, one per watched payment the chain will carry, plus
   ``LATENCY_TRIALS`` unpaid ones for the latency phase.
3. Builds the chain (``BLOCKS`` blocks): per block, one JSON-RPC batch of ``eth_sendTransaction``
   (explicit nonce, gas and price: anvil neither estimates nor guesses) then ``evm_mine``. A block
   holds ``TOKEN_TX`` token transfers from ``SENDERS`` accounts to random fresh addresses and
   ``NATIVE_TX`` ETH transfers; every ``DEPOSIT_EVERY``-th block (default: every block) pays
   ``WATCHED_TOKEN`` token and ``WATCHED_NATIVE`` ETH top-ups their exact quote among them. One
   deposit per block per network is busier than a hosting company's traffic (tens a day) by two
   orders of magnitude, and each deposit is recorded and credited through the full service path:
   recorded in the scanner's range transaction, credited by ``payments.deposits_credit`` tasks in
   a real Celery worker (``CREDIT_WORKERS`` prefork processes on the ``chain`` queue, Redis at
   ``BENCH_REDIS_URL``, default ``REDIS_URL``), as in production.
4. Filler ``DepositAddress`` rows (random checksummed addresses of a filler client,
   ``bulk_create``) bring the watched set to 1,000; the database is saved as a template
   (``CREATE DATABASE ... TEMPLATE``); 99,000 more make the 100,000 template. Every measurement
   below starts from a fresh copy of a template: no cursor, no deposit, the same addresses.
5. Catching up, ``ROUNDS`` rounds (medians reported: on a shared 2-core machine one round in
   a few is slowed down by others' work; every round is in the output), at 1,000 and at 100,000
   watched addresses:

   * the scanner: ``scan_network_once`` (default batch) in a loop from a cursor at block 0 until
     the cursor reaches the head, the adapter built from the network's spec on its own
     ``httpx.Client``, its checksum memo emptied first (the same chain is read again). The
     watched set is loaded before the clock starts, as a running worker has it (the cold load is
     reported apart). The scan time ends when the cursor reaches the head; the scanner queued the
     credits on the way (``payments.deposits_credit`` messages in Redis). Then a fresh credit
     worker starts and, once ready, drains them: the drain time ends when every watched payment
     with 3 confirmations is credited (every one must be a deposit, exactly those credited, one
     ledger transaction each, or the run fails). Scan and drain run one after the other so that
     neither is measured while the other takes one of the two cores (``CREDIT_DURING_SCAN=1``
     runs the worker during the scan instead: what sharing two cores costs). The time inside the
     adapter (HTTP, JSON, matching) and inside the recording (``deposits_record`` and queueing
     the credits) is reported apart;
   * the raw fetch: the very JSON-RPC batches the adapter sends for the same ranges (headers +
     ``eth_getLogs`` for the token; full blocks + the watched payments' receipts for ETH),
     serialised beforehand, timing only the HTTP round trips and ``orjson.loads``.

   One untimed raw pass first, so every measurement reads a warm node.
6. Steady state, on fresh copies whose networks start at the head (``start_height``): ``TICKS``
   times, mine one block of ordinary traffic and time one scanner pass per network, at 1,000 and
   at 100,000 watched. A counting event hook on the adapter's ``httpx.Client`` gives the HTTP
   requests (and JSON-RPC calls) per tick. The naive design (ask the node about every watched
   address each tick: ``eth_getBalance`` for ETH, ``balanceOf`` for USDT) needs two calls per
   watched address; one such tick over the 1,000 set is timed for reference.
7. Detection latency, on the 100,000 copy of step 6: a thread runs the scanner over both networks
   every ``POLL_INTERVAL_S`` (fixed rate). The main thread waits a random fraction of the
   interval, queues a payment to a latency top-up (token and ETH in turn), mines it and polls
   ``topup_for_client`` every ``SELECTOR_POLL_S`` until the deposit shows; the latency runs from
   the mining call's return to that moment.
8. Stops anvil and the worker and drops the three scratch databases, also on failure.

Last line of output: one JSON object (see ``catch_up_report`` and ``steady_report``).
Run: ``.venv/bin/python bench/scanner.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nexora_bench_scanner")
BLOCKS = int(os.environ.get("BLOCKS", "250"))
TOKEN_TX = int(os.environ.get("TOKEN_TX", "100"))
NATIVE_TX = int(os.environ.get("NATIVE_TX", "20"))
WATCHED_TOKEN = int(os.environ.get("WATCHED_TOKEN", "1"))
WATCHED_NATIVE = int(os.environ.get("WATCHED_NATIVE", "1"))
SENDERS = int(os.environ.get("SENDERS", "10"))
CLIENTS = int(os.environ.get("CLIENTS", "50"))
DEPOSIT_EVERY = int(os.environ.get("DEPOSIT_EVERY", "1"))  # blocks between watched payments
LATENCY_TRIALS = int(os.environ.get("LATENCY_TRIALS", "20"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
TICKS = int(os.environ.get("TICKS", "10"))
POLL_INTERVAL_S = float(os.environ.get("POLL_INTERVAL_S", "1.0"))
CREDIT_WORKERS = int(os.environ.get("CREDIT_WORKERS", "2"))
CREDIT_DURING_SCAN = os.environ.get("CREDIT_DURING_SCAN", "") == "1"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
CREDIT_TIMEOUT_S = 120
SELECTOR_POLL_S = 0.02
WATCHED_SMALL, WATCHED_LARGE = 1_000, 100_000
CONFIRMATIONS = 3
RPC_BATCH = 200  # the adapter's default batch_size: raw fetches use the same chunking
SCAN_BATCH = 100  # scan_network_once's default
TOKEN_CODE, NATIVE_CODE = "usdt-anvil", "eth-anvil"
TOKEN_AMOUNT, NATIVE_AMOUNT = "25.00", "30.00"  # USD: 25 USDT, 0.01 ETH at the static rates
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
GAS_PRICE = hex(3 * 10**9)
FILLER_KEY = "benchfiller"

if TYPE_CHECKING:
    from nexora.accounts.models import ClientProfile
    from payments.chains.base import BlockRef, ChainAdapter, ScanResult
    from payments.models import Network, TopUp
    from tests.chain.anvil import Anvil

Call = tuple[str, list[Any]]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- databases ----------------------------------------------------------------------------------

DB_NAME = DB_URL.rsplit("/", 1)[1]
TEMPLATES = {WATCHED_SMALL: f"{DB_NAME}_1k", WATCHED_LARGE: f"{DB_NAME}_100k"}


def _admin_execute(sql: str) -> None:
    import psycopg

    admin_url = DB_URL.rsplit("/", 1)[0]
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def database_copy(source: str, target: str) -> None:
    """``target`` becomes a fresh copy of ``source`` (nobody may be connected to either)."""
    _close_django_connections()
    _admin_execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
    _admin_execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    # The copy goes through the WAL (more of it for the 100,000 copy): flush it now, so that the
    # measurement's commits do not wait behind it.
    _admin_execute("CHECKPOINT")


def databases_drop() -> None:
    _close_django_connections()
    for name in (DB_NAME, *TEMPLATES.values()):
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _django_env() -> dict[str, str]:
    return {
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",  # credits go to the worker, as in production
        "NEXORA_ENV": os.environ.get("NEXORA_ENV", "test"),  # DEBUG off: no query log in the hot path
        "DJANGO_SETTINGS_MODULE": "nexora.settings",
    }


def setup_django() -> None:
    os.environ.update(_django_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")
    os.environ["NEXORA_TOPUP_MAX_OPEN"] = str(10**9)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # httpx logs every request at INFO
    import django

    django.setup()


# --- raw JSON-RPC -------------------------------------------------------------------------------


def _body(calls: Sequence[Call]) -> bytes:
    return orjson.dumps(
        [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    )


def _chunked(calls: Sequence[Call]) -> list[bytes]:
    return [_body(calls[i : i + RPC_BATCH]) for i in range(0, len(calls), RPC_BATCH)]


class Rpc:
    """Batched raw JSON-RPC on one client; any error object fails loudly."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=60, headers={"Content-Type": "application/json"})

    def post(self, body: bytes) -> Any:
        return orjson.loads(self.client.post(self.url, content=body).content)

    def batch(self, calls: Sequence[Call]) -> list[Any]:
        results: list[Any] = []
        for body in _chunked(calls):
            answers = sorted(self.post(body), key=lambda a: a["id"])
            errors = [a["error"] for a in answers if a.get("error")]
            if errors:
                raise RuntimeError(f"JSON-RPC errors: {errors[:3]}")
            results += [a["result"] for a in answers]
        return results

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        return self.batch([(method, params or [])])[0]


# --- the chain ----------------------------------------------------------------------------------


@dataclass
class Chain:
    token: str
    head: int = 0
    token_transfers: int = 0
    native_transfers: int = 0
    token_paid: list[int] = field(default_factory=list)  # the height of each watched token payment
    native_paid: dict[int, list[str]] = field(default_factory=dict)  # height -> watched ETH payments
    build_s: float = 0.0


@dataclass
class Payer:
    """Queues transactions from the funded senders with explicit nonces."""

    rpc: Rpc
    senders: list[str]
    nonces: dict[str, int] = field(default_factory=dict)
    turn: int = 0

    def tx(self, to: str, *, value: int = 0, data: str = "", gas: int = 21_000) -> Call:
        sender = self.senders[self.turn % len(self.senders)]
        self.turn += 1
        if sender not in self.nonces:
            self.nonces[sender] = int(self.rpc.call("eth_getTransactionCount", [sender, "pending"]), 16)
        nonce, self.nonces[sender] = self.nonces[sender], self.nonces[sender] + 1
        tx = {"from": sender, "to": to, "gas": hex(gas), "gasPrice": GAS_PRICE, "nonce": hex(nonce)}
        if value:
            tx["value"] = hex(value)
        if data:
            tx["data"] = data
        return ("eth_sendTransaction", [tx])

    def token_tx(self, token: str, to: str, amount: int) -> Call:
        data = "0xa9059cbb" + to.lower().removeprefix("0x").rjust(64, "0") + f"{amount:064x}"
        return self.tx(token, data=data, gas=80_000)


def chain_start(anvil: Anvil) -> Chain:
    """Deploy TetherToken and fund the senders (automine on), then switch automine off."""
    token = anvil.deploy("TetherToken", sender=anvil.accounts[0])
    for sender in anvil.accounts[1 : 2 + SENDERS]:  # the last one pays the latency trials
        anvil.receipt(anvil.token_mint(token, sender, 10**18, sender=anvil.accounts[0]))
    anvil.set_automine(False)
    return Chain(token=token, head=anvil.block_number())


class Traffic:
    """Mines blocks of random traffic: one batch of ``eth_sendTransaction``, then ``evm_mine``."""

    def __init__(self, anvil: Anvil, chain: Chain) -> None:
        self.rpc = Rpc(anvil.url)
        self.payer = Payer(self.rpc, list(anvil.accounts[1 : 1 + SENDERS]))
        self.rng = random.Random(7)
        self.chain = chain

    def _address(self) -> str:
        return "0x" + self.rng.randbytes(20).hex()

    def block(self, token_payments: Sequence[TopUp] = (), native_payments: Sequence[TopUp] = ()) -> None:
        """One block: ``TOKEN_TX`` + ``NATIVE_TX`` transfers, the given top-ups paid among them."""
        pay, chain, rng = self.payer, self.chain, self.rng
        token = [pay.token_tx(chain.token, self._address(), rng.randint(1, 10**9))
                 for _ in range(TOKEN_TX - len(token_payments))]  # fmt: skip
        token += [pay.token_tx(chain.token, t.address.address, t.crypto_amount) for t in token_payments]
        native = [
            pay.tx(self._address(), value=rng.randint(1, 10**15))
            for _ in range(NATIVE_TX - len(native_payments))
        ]
        paying = [pay.tx(t.address.address, value=t.crypto_amount) for t in native_payments]
        hashes = self.rpc.batch(token + native + paying)
        self.rpc.call("evm_mine")
        chain.head += 1
        chain.token_paid += [chain.head] * len(token_payments)
        if paying:
            chain.native_paid[chain.head] = hashes[len(hashes) - len(paying) :]
        chain.token_transfers += len(token)
        chain.native_transfers += len(native) + len(paying)


def chain_build(anvil: Anvil, traffic: Traffic, seeded: Seed) -> None:
    """Mine ``BLOCKS`` blocks; every ``DEPOSIT_EVERY``-th pays the next top-ups, in order."""
    chain = traffic.chain
    token_queue, native_queue = iter(seeded.token_topups), iter(seeded.native_topups)
    started = time.perf_counter()
    for number in range(BLOCKS):
        paying = number % DEPOSIT_EVERY == 0
        traffic.block(
            _take(token_queue, WATCHED_TOKEN if paying else 0),
            _take(native_queue, WATCHED_NATIVE if paying else 0),
        )
    chain.build_s = time.perf_counter() - started
    assert anvil.block_number() == chain.head, f"head {anvil.block_number()}, expected {chain.head}"
    assert len(anvil.block(chain.head)["transactions"]) == TOKEN_TX + NATIVE_TX, "a block lost transactions"
    assert len(chain.token_paid) == len(seeded.token_topups), "a token top-up was not paid"


def _take(queue: Iterator[TopUp], count: int) -> list[TopUp]:
    taken = [t for _, t in zip(range(count), queue, strict=False)]
    assert len(taken) == count, "not enough top-ups issued for the watched payments"
    return taken


# --- the database content ----------------------------------------------------------------------


@dataclass
class Seed:
    token_topups: list[TopUp]
    native_topups: list[TopUp]
    latency_topups: list[TopUp]  # unpaid during the build; token and ETH in turn


def seed(anvil: Anvil, chain: Chain) -> Seed:
    """Migrate, load the two anvil networks, issue the top-ups (real addresses from the xpub)."""
    from django.core.management import call_command

    from nexora.accounts.services import client_create
    from payments.services.networks import networks_load
    from payments.services.topups import topup_create
    from tests.conftest import NETWORK_DEFAULTS

    call_command("migrate", verbosity=0)
    common = {"chain_id": 31337, "node_urls": [anvil.url], "confirmations": CONFIRMATIONS,
              "options": {"start_height": 0, "backoff_s": 0}}  # fmt: skip
    networks_load(entries=[
        {**NETWORK_DEFAULTS["usdt-erc20"], **common, "code": TOKEN_CODE, "token_contract": chain.token},
        {**NETWORK_DEFAULTS["eth"], **common, "code": NATIVE_CODE},
    ])  # fmt: skip
    clients = [client_create(username=f"bench{i}") for i in range(CLIENTS)]
    turn = iter(range(10**9))

    def issue(code: str, count: int) -> list[TopUp]:
        amount = TOKEN_AMOUNT if code == TOKEN_CODE else NATIVE_AMOUNT
        return [topup_create(client=clients[next(turn) % CLIENTS], network_code=code, amount=amount).topup
                for _ in range(count)]  # fmt: skip

    started = time.perf_counter()
    paying_blocks = len(range(0, BLOCKS, DEPOSIT_EVERY))
    token = issue(TOKEN_CODE, paying_blocks * WATCHED_TOKEN)
    native = issue(NATIVE_CODE, paying_blocks * WATCHED_NATIVE)
    latency = [issue(NATIVE_CODE if i % 2 else TOKEN_CODE, 1)[0] for i in range(LATENCY_TRIALS)]
    log(f"seed: {len(token) + len(native) + len(latency)} top-ups in {time.perf_counter() - started:.1f} s")
    return Seed(token, native, latency)


def fillers_add(total: int, rng: random.Random) -> None:
    """Add random watched addresses of a filler client until the EVM family has ``total``."""
    from nexora.accounts.services import client_create
    from payments.addresses import evm_checksum
    from payments.models import DepositAddress, Network

    network = Network.objects.get(code=TOKEN_CODE)
    filler = client_create(username=f"filler{total}")
    have = DepositAddress.objects.filter(family="evm").count()
    start = DepositAddress.objects.filter(key_fingerprint=FILLER_KEY).count()
    rows = [
        DepositAddress(family="evm", address=evm_checksum(rng.randbytes(20)), key_fingerprint=FILLER_KEY,
                       index=start + i, network=network, client=filler)
        for i in range(total - have)
    ]  # fmt: skip
    DepositAddress.objects.bulk_create(rows, batch_size=5000)
    assert DepositAddress.objects.filter(family="evm").count() == total
    from django.db import connection

    with connection.cursor() as cursor:  # fresh statistics, as autovacuum gives a production table
        cursor.execute("ANALYZE")


def prepare(anvil: Anvil) -> tuple[Traffic, Seed]:
    """Chain, networks, top-ups, and the two templates (1,000 and 100,000 watched addresses)."""
    database_copy("template1", DB_NAME)
    chain = chain_start(anvil)
    seeded = seed(anvil, chain)
    traffic = Traffic(anvil, chain)
    chain_build(anvil, traffic, seeded)
    log(f"chain: {chain.head} blocks, {chain.token_transfers} token + {chain.native_transfers} native "
        f"transfers in {chain.build_s:.1f} s")  # fmt: skip
    rng = random.Random(3)
    fillers_add(WATCHED_SMALL, rng)
    database_copy(DB_NAME, TEMPLATES[WATCHED_SMALL])
    fillers_add(WATCHED_LARGE, rng)
    database_copy(DB_NAME, TEMPLATES[WATCHED_LARGE])
    return traffic, seeded


# --- instrumentation ----------------------------------------------------------------------------


@dataclass
class Counter:
    """An httpx request hook: HTTP requests, and the JSON-RPC calls inside them."""

    requests: int = 0
    calls: int = 0

    def hook(self, request: httpx.Request) -> None:
        self.requests += 1
        self.calls += max(1, request.content.count(b'"jsonrpc"'))


class TimedAdapter:
    """Delegates to the real adapter and adds up the time spent inside it."""

    def __init__(self, inner: ChainAdapter) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.seconds = 0.0

    def _timed(self, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.seconds += time.perf_counter() - started

    def head(self) -> int:
        return int(self._timed(self.inner.head))

    def final_height(self) -> int | None:
        result: int | None = self._timed(self.inner.final_height)
        return result

    def block_ref(self, height: int) -> BlockRef:
        result: BlockRef = self._timed(lambda: self.inner.block_ref(height))
        return result

    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        result: ScanResult = self._timed(lambda: self.inner.scan(start, end, watched))
        return result

    def transaction(self, tx_hash: str, watched: Set[str]) -> Any:
        return self._timed(lambda: self.inner.transaction(tx_hash, watched))


@contextmanager
def counted_adapter(network: Network) -> Iterator[tuple[TimedAdapter, Counter]]:
    """The network's EVM adapter on its own ``httpx.Client`` with a counting hook."""
    from payments.chains.evm import EvmAdapter
    from payments.services.networks import network_spec

    counter = Counter()
    client = httpx.Client(limits=httpx.Limits(max_connections=50), event_hooks={"request": [counter.hook]})
    try:
        yield TimedAdapter(EvmAdapter(network_spec(network), client=client)), counter
    finally:
        client.close()


@contextmanager
def recording_timed() -> Iterator[list[float]]:
    """Add up the time the scanner spends recording the ranges' transfers and queueing their
    credits (instrumentation only: the references are wrapped for the block's duration)."""
    import payments.scanner as scanner
    import payments.tasks as tasks

    spent = [0.0]
    originals = [(scanner, "deposits_record"), (tasks, "deposits_credit_enqueue")]
    saved = [getattr(module, name) for module, name in originals]

    def timed(service: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return service(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

        return wrapper

    for (module, name), service in zip(originals, saved, strict=True):
        setattr(module, name, timed(service))
    try:
        yield spent
    finally:
        for (module, name), service in zip(originals, saved, strict=True):
            setattr(module, name, service)


# --- the credit worker ---------------------------------------------------------------------------


def credit_queue_reset() -> None:
    """Empty the ``chain`` queue and forget the scanner's queued-credit marks (fresh database, same ids)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match="*deposit-credit-queued:*"):
            client.delete(key)
        for key in client.scan_iter(match="chain*"):
            client.delete(key)
    finally:
        client.close()


@contextmanager
def credit_worker() -> Iterator[None]:
    """A real Celery worker on the ``chain`` queue (``CREDIT_WORKERS`` processes), ready on entry."""
    import subprocess
    import tempfile

    log_file = tempfile.NamedTemporaryFile("w+", suffix=".log", prefix="bench-worker-")  # noqa: SIM115
    command = [sys.executable, "-m", "celery", "-A", "nexora", "worker", "-Q", "chain", "-P", "prefork",
               "-c", str(CREDIT_WORKERS), "-l", "INFO", "--without-gossip", "--without-mingle",
               "--without-heartbeat", "-n", f"bench-credit-{os.getpid()}@%h"]  # fmt: skip
    env = {**os.environ, **_django_env(), "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_ready(worker, Path(log_file.name))
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log_file.close()


def _wait_ready(worker: Any, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while " ready." not in log_path.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the credit worker did not start:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.1)


# --- catching up: the scanner and the raw fetch -------------------------------------------------


@dataclass(frozen=True)
class ScanRun:
    seconds: float  # until the cursor is at the head
    credited_s: float  # then, a ready worker crediting every payment with enough confirmations
    adapter_s: float  # inside the adapter: HTTP, JSON, matching
    recording_s: float  # inside deposits_record and queueing the credits
    passes: int
    requests: int
    watched_load_s: float  # the cold load of the watched set (once per process)
    credits: int  # payments credited by the drain


def scan_catch_up(network: Network, adapter: ChainAdapter, head: int) -> int:
    """Passes of ``scan_network_once`` until the cursor is at ``head``."""
    from payments.scanner import scan_network_once

    passes = 0
    while True:
        outcome = scan_network_once(network=network, adapter=adapter, batch=SCAN_BATCH)
        passes += 1
        assert not outcome.skipped, "the scan lock was taken"
        if outcome.height >= head:
            return passes


def _expected(network: Network, head: int, paid_heights: Sequence[int]) -> int:
    """Payments that must end credited: those with enough confirmations."""
    return sum(1 for height in paid_heights if head - height + 1 >= CONFIRMATIONS)


def _credited(network: Network) -> int:
    from payments.models import Deposit, DepositStatus

    return Deposit.objects.filter(network=network, status=DepositStatus.CREDITED).count()


def _wait_credited(network: Network, expected: int) -> None:
    deadline = time.monotonic() + CREDIT_TIMEOUT_S
    while _credited(network) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{network.code}: {_credited(network)} of {expected} credited")
        time.sleep(0.01)


def _check_deposits(network: Network, paid_heights: Sequence[int], expected: int) -> None:
    """Every watched payment is a deposit; exactly those with enough confirmations are credited."""
    from payments.models import Deposit, LedgerTransaction

    deposits = Deposit.objects.filter(network=network)
    assert deposits.count() == len(paid_heights), f"{network.code}: {deposits.count()} deposits"
    credited = _credited(network)
    assert credited == expected, f"{network.code}: {credited} credited, expected {expected}"
    keys = LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count()
    assert keys == expected, f"{network.code}: {keys} deposit ledger transactions for {expected} credits"


def process_caches_reset() -> None:
    """A fresh database copy reuses the ids: forget every per-process cache of rows and addresses."""
    from payments.chains import evm
    from payments.scan_ahead import ahead_forget
    from payments.selectors.watched import watched_addresses_forget
    from payments.services.ledger import system_accounts_forget

    # The adapter memoises checksummed addresses per process; re-scanning the same chain would
    # find the previous round's recipients there, which a worker reading new blocks does not.
    evm._checksum.cache_clear()
    watched_addresses_forget()
    system_accounts_forget()
    ahead_forget()


def measure_scan(template: str, code: str, chain: Chain) -> ScanRun:
    """The whole chain from block 0 on a fresh copy of ``template``; then its credits, drained by a
    worker (with ``CREDIT_DURING_SCAN=1`` the worker runs during the scan, on the same two cores)."""
    from payments.models import Network
    from payments.scanner import watched_addresses

    database_copy(template, DB_NAME)
    process_caches_reset()
    credit_queue_reset()
    network = Network.objects.get(code=code)
    paid = (
        chain.token_paid if code == TOKEN_CODE else [h for h, txs in chain.native_paid.items() for _ in txs]
    )
    expected = _expected(network, chain.head, paid)
    with contextlib.ExitStack() as during:
        if CREDIT_DURING_SCAN:
            during.enter_context(credit_worker())
        with counted_adapter(network) as (adapter, counter), recording_timed() as recording:
            loading = time.perf_counter()
            watched_addresses(network)
            watched_load_s = time.perf_counter() - loading
            started = time.perf_counter()
            passes = scan_catch_up(network, adapter, chain.head)
            seconds = time.perf_counter() - started
        # Then the credits the scan queued (by default a worker that has the CPU to itself).
        with contextlib.nullcontext() if CREDIT_DURING_SCAN else credit_worker():
            started = time.perf_counter()
            _wait_credited(network, expected)
            credited_s = time.perf_counter() - started
    _check_deposits(network, paid, expected)
    return ScanRun(
        seconds, credited_s, adapter.seconds, recording[0], passes, counter.requests, watched_load_s, expected
    )


def _ranges(head: int) -> Iterator[tuple[int, int]]:
    for start in range(1, head + 1, SCAN_BATCH):
        yield start, min(head, start + SCAN_BATCH - 1)


def token_raw_bodies(chain: Chain, watched: Set[str], foreign_limit: int = 1000) -> list[bytes]:
    """The adapter's token batches for the whole chain: head, headers, ``eth_getLogs`` by the token
    contract and, while the watched set is small, by recipient for the look-alikes."""
    queries: list[dict[str, Any]] = [{"address": chain.token, "topics": [TRANSFER_TOPIC]}]
    if len(watched) <= foreign_limit:
        padded = ["0x" + "0" * 24 + a[2:].lower() for a in sorted(watched)]
        queries.append({"topics": [TRANSFER_TOPIC, None, padded]})
    bodies = []
    for start, end in _ranges(chain.head):
        calls: list[Call] = [("eth_blockNumber", [])]
        calls += [("eth_getBlockByNumber", [hex(h), False]) for h in range(start, end + 1)]
        calls += [("eth_getLogs", [{**q, "fromBlock": hex(start), "toBlock": hex(end)}]) for q in queries]
        bodies += _chunked(calls)
    return bodies


def native_raw_bodies(chain: Chain) -> list[bytes]:
    """The adapter's native batches: head + full blocks, then the watched payments' receipts."""
    bodies = []
    for start, end in _ranges(chain.head):
        calls: list[Call] = [("eth_blockNumber", [])]
        calls += [("eth_getBlockByNumber", [hex(h), True]) for h in range(start, end + 1)]
        bodies += _chunked(calls)
        receipts = [("eth_getTransactionReceipt", [tx]) for h in range(start, end + 1)
                    for tx in chain.native_paid.get(h, ())]  # fmt: skip
        bodies += _chunked(receipts)
    return bodies


def measure_raw(rpc: Rpc, bodies: Sequence[bytes]) -> float:
    """Seconds for the HTTP round trips and JSON decoding of ``bodies``, nothing else."""
    started = time.perf_counter()
    for body in bodies:
        rpc.post(body)
    return time.perf_counter() - started


def naive_tick_s(rpc: Rpc, chain: Chain, watched: Sequence[str]) -> float:
    """One naive tick: ``eth_getBalance`` and ``balanceOf`` for each watched address, batched."""
    calls: list[Call] = []
    for address in watched:
        calls.append(("eth_getBalance", [address, "latest"]))
        data = "0x70a08231" + address[2:].lower().rjust(64, "0")
        calls.append(("eth_call", [{"to": chain.token, "data": data}, "latest"]))
    return measure_raw(rpc, _chunked(calls))


def _watched(template: str) -> frozenset[str]:
    from payments.models import Network
    from payments.scanner import watched_addresses

    database_copy(template, DB_NAME)
    process_caches_reset()
    return watched_addresses(Network.objects.get(code=TOKEN_CODE))


@dataclass
class CatchUp:
    raw: dict[str, list[float]] = field(default_factory=dict)
    scans: dict[tuple[str, int], list[ScanRun]] = field(default_factory=dict)

    def raw_s(self, name: str) -> float:
        return statistics.median(self.raw[name])

    def scan_s(self, path: str, size: int, part: str = "seconds") -> float:
        return statistics.median(getattr(run, part) for run in self.scans[path, size])


def measure_catch_up(rpc: Rpc, chain: Chain) -> CatchUp:
    """``ROUNDS`` rounds of: raw fetches, then the scanner on both paths at 1k and at 100k."""
    watched = {size: _watched(template) for size, template in TEMPLATES.items()}
    bodies = {"token": token_raw_bodies(chain, watched[WATCHED_SMALL]), "native": native_raw_bodies(chain),
              "token_100k": token_raw_bodies(chain, watched[WATCHED_LARGE])}  # fmt: skip
    for body_list in bodies.values():
        measure_raw(rpc, body_list)  # warm the node: every measurement reads the same warm chain
    result = CatchUp()
    for _ in range(ROUNDS):
        for name, body_list in bodies.items():
            result.raw.setdefault(name, []).append(measure_raw(rpc, body_list))
        for size, template in TEMPLATES.items():
            for path, code in (("token", TOKEN_CODE), ("native", NATIVE_CODE)):
                run = measure_scan(template, code, chain)
                result.scans.setdefault((path, size), []).append(run)
                log(f"{path} scan, {size} watched: {run}")
    return result


# --- steady state: ticks and detection latency --------------------------------------------------


def _networks_at_head(template: str, head: int) -> list[Network]:
    """A fresh copy of ``template`` whose networks start scanning at ``head`` (steady state)."""
    from payments.models import Network

    database_copy(template, DB_NAME)
    process_caches_reset()
    credit_queue_reset()
    networks = [Network.objects.get(code=TOKEN_CODE), Network.objects.get(code=NATIVE_CODE)]
    for network in networks:
        network.options = {**network.options, "start_height": head}
        network.save(update_fields=["options"])
    return networks


@dataclass(frozen=True)
class Ticks:
    seconds: list[float]  # one tick = a pass over each network after one new block
    requests: int
    calls: int


def measure_ticks(traffic: Traffic, template: str) -> Ticks:
    """``TICKS`` times: mine one block of ordinary traffic, then one scanner pass per network."""
    from payments.scanner import scan_network_once

    networks = _networks_at_head(template, traffic.chain.head)
    with counted_adapter(networks[0]) as token, counted_adapter(networks[1]) as native:
        pairs = list(zip(networks, (token, native), strict=True))
        for network, (adapter, _) in pairs:
            scan_network_once(network=network, adapter=adapter, batch=SCAN_BATCH)  # the cursor
        before = [(counter.requests, counter.calls) for _, (_, counter) in pairs]
        seconds = []
        for _ in range(TICKS):
            traffic.block()
            started = time.perf_counter()
            for network, (adapter, _) in pairs:
                scan_network_once(network=network, adapter=adapter, batch=SCAN_BATCH)
            seconds.append(time.perf_counter() - started)
        requests = sum(c.requests - r for (_, (_, c)), (r, _) in zip(pairs, before, strict=True))
        calls = sum(c.calls - k for (_, (_, c)), (_, k) in zip(pairs, before, strict=True))
    return Ticks(seconds, requests, calls)


@dataclass
class Poller:
    """The scanner over both networks every ``POLL_INTERVAL_S`` (fixed rate), in a thread."""

    networks: list[Network]
    stop: threading.Event = field(default_factory=threading.Event)
    tick_s: list[float] = field(default_factory=list)
    error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        try:
            with counted_adapter(self.networks[0]) as token, counted_adapter(self.networks[1]) as native:
                self._loop([token[0], native[0]])
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()  # this thread's own connection

    def _loop(self, adapters: list[TimedAdapter]) -> None:
        from payments.scanner import scan_network_once

        due = time.monotonic()
        while not self.stop.is_set():
            started = time.perf_counter()
            for network, adapter in zip(self.networks, adapters, strict=True):
                scan_network_once(network=network, adapter=adapter, batch=SCAN_BATCH)
            self.tick_s.append(time.perf_counter() - started)
            due = max(due + POLL_INTERVAL_S, time.monotonic())
            self.stop.wait(due - time.monotonic())


def _deposit_visible(client: ClientProfile, topup: TopUp) -> bool:
    from payments.selectors.topups import topup_for_client

    return bool(topup_for_client(client, topup.public_id).deposits.all())


def _pay_and_wait(rpc: Rpc, payer: Payer, chain: Chain, topup: TopUp, poller: Poller) -> float:
    """Queue a payment of ``topup``, mine it, and wait until the selector shows the deposit."""
    to, units = topup.address.address, topup.crypto_amount
    rpc.batch(
        [
            payer.token_tx(chain.token, to, units)
            if topup.network.token_contract
            else payer.tx(to, value=units)
        ]
    )
    rpc.call("evm_mine")
    mined = time.perf_counter()
    while not _deposit_visible(topup.client, topup):
        if poller.error is not None or time.perf_counter() - mined > 30:
            raise RuntimeError(f"deposit of top-up {topup.pk} not seen: {poller.error!r}")
        time.sleep(SELECTOR_POLL_S)
    return time.perf_counter() - mined


def measure_latency(anvil: Anvil, chain: Chain, topups: Sequence[TopUp]) -> tuple[list[float], Poller]:
    """Run on the database the last ``measure_ticks`` left: cursors at the head, 100k watched."""
    from payments.models import Network, TopUp

    poller = Poller([Network.objects.get(code=TOKEN_CODE), Network.objects.get(code=NATIVE_CODE)])
    thread = threading.Thread(target=poller.run, name="scanner-poll")
    rng, rpc = random.Random(11), Rpc(anvil.url)
    payer = Payer(rpc, [anvil.accounts[1 + SENDERS]])
    latencies = []
    thread.start()
    try:
        for stale in topups:
            topup = TopUp.objects.select_related("client", "address", "network").get(pk=stale.pk)
            time.sleep(rng.uniform(0, POLL_INTERVAL_S))  # a random phase against the poll
            latencies.append(_pay_and_wait(rpc, payer, chain, topup, poller))
    finally:
        poller.stop.set()
        thread.join()
        rpc.client.close()
    if poller.error is not None:
        raise poller.error
    return latencies, poller


# --- main ---------------------------------------------------------------------------------------


def catch_up_report(chain: Chain, c: CatchUp) -> dict[str, Any]:
    blocks, small, large = chain.head, WATCHED_SMALL, WATCHED_LARGE
    token, native = c.scan_s("token", small), c.scan_s("native", small)
    ratios = {path: c.scan_s(path, large) / c.scan_s(path, small) for path in ("token", "native")}
    recording = {path: c.scan_s(path, small, "recording_s") for path in ("token", "native")}
    credited = {path: c.scan_s(path, small, "credited_s") for path in ("token", "native")}
    deposits = len(chain.token_paid) + sum(len(txs) for txs in chain.native_paid.values())
    counts = {"token": len(chain.token_paid), "native": deposits - len(chain.token_paid)}
    return {
        "token_blocks_per_s": round(blocks / token, 1),
        "token_raw_blocks_per_s": round(blocks / c.raw_s("token"), 1),
        "native_blocks_per_s": round(blocks / native, 1),
        "native_raw_blocks_per_s": round(blocks / c.raw_s("native"), 1),
        "cost_ratio_100k_vs_1k": round(max(ratios.values()), 3),
        "token_vs_raw": round(c.raw_s("token") / token, 3),
        "native_vs_raw": round(c.raw_s("native") / native, 3),
        "token_transfers_per_s": round(chain.token_transfers / token, 1),
        "native_transfers_per_s": round(chain.native_transfers / native, 1),
        "cost_ratio_token": round(ratios["token"], 3),
        "cost_ratio_native": round(ratios["native"], 3),
        "token_100k_blocks_per_s": round(blocks / c.scan_s("token", large), 1),
        "token_100k_raw_blocks_per_s": round(blocks / c.raw_s("token_100k"), 1),
        "native_100k_blocks_per_s": round(blocks / c.scan_s("native", large), 1),
        "token_adapter_share": round(c.scan_s("token", small, "adapter_s") / token, 3),
        "native_adapter_share": round(c.scan_s("native", small, "adapter_s") / native, 3),
        "token_recording_share": round(recording["token"] / token, 3),
        "native_recording_share": round(recording["native"] / native, 3),
        "recording_ms_per_deposit": round(1000 * sum(recording.values()) / deposits, 2),
        "token_credit_drain_s": round(credited["token"], 3),
        "native_credit_drain_s": round(credited["native"], 3),
        "token_credits_per_s": round(c.scans["token", small][0].credits / credited["token"], 1),
        "native_credits_per_s": round(c.scans["native", small][0].credits / credited["native"], 1),
        "credit_workers": CREDIT_WORKERS,
        "credit_during_scan": CREDIT_DURING_SCAN,
        "watched_cold_load_ms_1k": round(1000 * c.scan_s("token", small, "watched_load_s"), 1),
        "watched_cold_load_ms_100k": round(1000 * c.scan_s("token", large, "watched_load_s"), 1),
        "token_scan_s_rounds": [round(r.seconds, 3) for r in c.scans["token", small]],
        "token_100k_scan_s_rounds": [round(r.seconds, 3) for r in c.scans["token", large]],
        "native_scan_s_rounds": [round(r.seconds, 3) for r in c.scans["native", small]],
        "native_100k_scan_s_rounds": [round(r.seconds, 3) for r in c.scans["native", large]],
        "raw_s_rounds": {name: [round(t, 3) for t in times] for name, times in c.raw.items()},
        "blocks": blocks,
        "token_transfers_per_block": TOKEN_TX,
        "native_transfers_per_block": NATIVE_TX,
        "deposits": counts,
        "deposit_every_blocks": DEPOSIT_EVERY,
        "scan_passes": c.scans["token", small][0].passes,
    }


def steady_report(
    ticks: dict[int, Ticks], naive_s: float, latencies: list[float], poller: Poller
) -> dict[str, Any]:
    small, large = ticks[WATCHED_SMALL], ticks[WATCHED_LARGE]
    return {
        "scanner_requests_per_tick": round(large.requests / TICKS, 2),
        "naive_requests_per_tick": 2 * WATCHED_LARGE,
        "detection_latency_p50_s": round(statistics.median(latencies), 3),
        "detection_latency_max_s": round(max(latencies), 3),
        "poll_interval_s": POLL_INTERVAL_S,
        "scanner_calls_per_tick": round(large.calls / TICKS, 2),
        "tick_ms_1k": round(1000 * statistics.median(small.seconds), 1),
        "tick_ms_100k": round(1000 * statistics.median(large.seconds), 1),
        "tick_cost_ratio_100k_vs_1k": round(
            statistics.median(large.seconds) / statistics.median(small.seconds), 2
        ),
        "naive_requests_per_tick_1k": 2 * WATCHED_SMALL,
        "naive_tick_ms_1k": round(1000 * naive_s, 1),
        "poller_tick_ms_p50": round(1000 * statistics.median(poller.tick_s), 1),
    }


def measure_all(anvil: Anvil, traffic: Traffic, seeded: Seed) -> dict[str, Any]:
    chain, rpc = traffic.chain, Rpc(anvil.url)
    result = catch_up_report(chain, measure_catch_up(rpc, chain))
    small = sorted(_watched(TEMPLATES[WATCHED_SMALL]))
    naive_s = naive_tick_s(rpc, chain, small)
    rpc.client.close()
    ticks = {size: measure_ticks(traffic, template) for size, template in TEMPLATES.items()}
    latencies, poller = measure_latency(anvil, chain, seeded.latency_topups)
    return {
        **result,
        **steady_report(ticks, naive_s, latencies, poller),
        "chain_build_s": round(chain.build_s, 1),
    }


def main() -> None:
    setup_django()
    from tests.chain.anvil import Anvil

    started = time.perf_counter()
    try:
        with Anvil(accounts=SENDERS + 2) as anvil:
            traffic, seeded = prepare(anvil)
            result = measure_all(anvil, traffic, seeded)
    finally:
        databases_drop()
    result["runtime_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
