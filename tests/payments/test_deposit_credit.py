"""Crediting off the scan transaction: ``payments.deposit_credit``, the scanner's hand-over, its safety
net, a credit that fails for a while, the announcements, and scanners racing without the lock.

The chain is the in-memory one (``tests.payments.memory_chain``); the database is PostgreSQL and the
broker Redis where the test says so. Every test asserts the exact end state: statuses, balance, the
number of ``deposit:`` ledger transactions and audit rows.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Set
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from nexora.accounts.models import ClientProfile
from nexora.common.models import StatusChange
from payments import tasks
from payments.chains.base import BlockRef, ScanResult
from payments.hooks import DepositCredited, DepositSeen, listener_register, listener_unregister
from payments.models import Deposit, LedgerTransaction, Network, ScanCursor, TopUp
from payments.rates import RateUnavailable
from payments.scanner import ScanOutcome, scan_network_once
from payments.selectors.ledger import balance_get
from payments.services.topups import topup_create
from payments.tasks import deposit_credit, deposits_credit_enqueue
from tests.payments.memory_chain import MemoryChain, memory_chain

pytestmark = pytest.mark.django_db
USDT = 10**6


@pytest.fixture
def env(make_network: Callable[..., Network], make_client: Callable[..., ClientProfile]) -> SimpleNamespace:
    network = make_network("usdt-erc20", confirmations=3)
    client = make_client()
    chain = memory_chain(network)
    chain.mine(5)
    topup = topup_create(client=client, network_code="usdt-erc20", amount="50").topup
    scan_network_once(network=network, adapter=chain)  # the cursor, before any payment
    return SimpleNamespace(network=network, client=client, chain=chain, topup=topup)


def scan(env: SimpleNamespace) -> ScanOutcome:
    return scan_network_once(network=Network.objects.get(pk=env.network.pk), adapter=env.chain)


def state(env: SimpleNamespace) -> tuple[Any, ...]:
    """(deposit statuses, top-up status, available balance, deposit ledger transactions)."""
    return (
        list(Deposit.objects.order_by("pk").values_list("status", flat=True)),
        TopUp.objects.get(pk=env.topup.pk).status,
        balance_get(client=env.client).available,
        LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count(),
    )


def audit(deposit: Deposit) -> list[tuple[str, str]]:
    rows = StatusChange.objects.filter(entity="deposit", entity_id=str(deposit.pk)).order_by("pk")
    return list(rows.values_list("from_status", "to_status"))


@pytest.fixture
def lost(monkeypatch: pytest.MonkeyPatch) -> list[dict[int, str]]:
    """Every hand-over is lost (a broker that dropped the messages); the list records what was sent."""
    handed: list[dict[int, str]] = []
    monkeypatch.setattr(tasks, "deposits_credit_enqueue", lambda work: handed.append(dict(work)))
    return handed


def paid_and_due(env: SimpleNamespace) -> str:
    """Pay the top-up in full and mine its confirmations; returns the payment's block hash."""
    env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine(3)
    return env.chain.blocks[6][0].hash


# -- the task ---------------------------------------------------------------------------------------


def test_the_task_confirms_only_the_block_the_scanner_vouched_for_and_credits_once(
    env: SimpleNamespace, lost: list[dict[int, str]]
) -> None:
    block_hash = paid_and_due(env)
    scan(env)
    deposit = Deposit.objects.get()
    assert lost == [{deposit.pk: block_hash}]  # new and due in one pass: one hand-over, with its block
    assert state(env) == (["pending"], "awaiting_payment", Decimal("0.00"), 0)

    assert deposit_credit(deposit.pk, "") == "pending"  # a first sighting only settles the top-up
    assert state(env) == (["pending"], "confirming", Decimal("0.00"), 0)
    assert deposit_credit(deposit.pk, "0x" + "ab" * 32) == "pending"  # another block: not confirmed
    assert state(env) == (["pending"], "confirming", Decimal("0.00"), 0)

    assert [deposit_credit(deposit.pk, block_hash) for _ in range(3)] == ["credited"] * 3
    assert state(env) == (["credited"], "completed", Decimal("50.00"), 1)
    assert audit(deposit) == [("pending", "confirmed"), ("confirmed", "credited")]
    assert deposit_credit(10**9, block_hash) == "missing"


def test_the_worker_side_clears_its_queued_mark_when_done(
    env: SimpleNamespace, lost: list[dict[int, str]]
) -> None:
    block_hash = paid_and_due(env)
    scan(env)
    deposit = Deposit.objects.get()
    key = tasks._queued_key(deposit.pk, block_hash)
    cache.set(key, 1, timeout=60)

    assert deposit_credit(deposit.pk, block_hash) == "credited"  # called as a worker calls it

    assert cache.get(key) is None
    assert state(env) == (["credited"], "completed", Decimal("50.00"), 1)


# -- the safety net ---------------------------------------------------------------------------------


def test_a_lost_credit_is_handed_over_again_by_the_next_pass(
    env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_hash = paid_and_due(env)
    real = tasks.deposits_credit_enqueue
    monkeypatch.setattr(tasks, "deposits_credit_enqueue", lambda work: None)
    assert scan(env).handed_over == 1
    assert state(env) == (["pending"], "awaiting_payment", Decimal("0.00"), 0)

    handed: list[Mapping[int, str]] = []

    def counted(work: Mapping[int, str]) -> None:
        handed.append(dict(work))
        real(work)

    monkeypatch.setattr(tasks, "deposits_credit_enqueue", counted)
    outcome = scan(env)  # no new block: the pass finds the deposit still due

    deposit = Deposit.objects.get()
    assert (outcome.blocks, outcome.handed_over, handed) == (0, 1, [{deposit.pk: block_hash}])
    assert state(env) == (["credited"], "completed", Decimal("50.00"), 1)
    assert scan(env).handed_over == 0  # nothing is due any more
    assert state(env) == (["credited"], "completed", Decimal("50.00"), 1)


def test_a_credit_that_fails_for_a_while_neither_blocks_the_cursor_nor_loses_the_payment(
    env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    TopUp.objects.filter(pk=env.topup.pk).update(expires_at=timezone.now())  # late: valued at today's rate
    paid_and_due(env)

    def down(**kwargs: Any) -> Any:
        raise RateUnavailable()

    monkeypatch.setattr("payments.services.deposits.rate_quote", down)
    with caplog.at_level(logging.WARNING, logger="payments.tasks"):
        outcome = scan(env)

    assert (outcome.height, ScanCursor.objects.get().height) == (env.chain.head(), env.chain.head())
    assert state(env) == (["pending"], "awaiting_payment", Decimal("0.00"), 0)  # rolled back whole
    assert "not credited yet" in caplog.text
    monkeypatch.undo()
    scan(env)
    assert state(env) == (["credited"], "completed", Decimal("50.00"), 1)
    assert Deposit.objects.values_list("late", flat=True).get() is True


# -- announcements ---------------------------------------------------------------------------------


def test_seen_and_credited_are_announced_once_each_whatever_runs_twice(
    env: SimpleNamespace, django_capture_on_commit_callbacks: Any
) -> None:
    heard: list[Any] = []
    listen = heard.append
    for event in ("deposit_seen", "deposit_credited"):
        listener_register(event, listen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            env.chain.pay(env.topup.address.address, 50 * USDT)
            env.chain.mine(1)
            scan(env)
            env.chain.mine(2)
            scan(env)
            scan(env)
            deposit = Deposit.objects.get()
            deposit_credit(deposit.pk, deposit.block_hash)  # a duplicate message
    finally:
        for event in ("deposit_seen", "deposit_credited"):
            listener_unregister(event, listen)

    assert [type(fact) for fact in heard] == [DepositSeen, DepositCredited]
    assert [fact.deposit_id for fact in heard] == [deposit.pk, deposit.pk]
    assert heard[1].amount == Decimal("50.00")
    assert state(env) == (["credited"], "completed", Decimal("50.00"), 1)


# -- the broker path --------------------------------------------------------------------------------


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """Tasks go to the real Redis broker (not eager) for the test; the ``chain`` queue starts empty."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("chain")
    conf = deposit_credit.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, False  # (monkeypatch cannot undo this one)
    try:
        yield client
    finally:
        conf.task_always_eager = eager
        client.delete("chain")
        client.close()


def queued(client: redis.Redis) -> list[tuple[str, Any]]:
    """(task name, arguments) of every message waiting in the ``chain`` queue, oldest first."""
    found = []
    for raw in reversed(client.lrange("chain", 0, -1)):
        message = orjson.loads(raw)
        args = orjson.loads(base64.b64decode(message["body"]))[0]
        found.append((message["headers"]["task"], args))
    return found


def marks_cleared(work: Mapping[int, str]) -> None:
    cache.delete_many([tasks._queued_key(d, h) for d, h in work.items()])


@pytest.mark.redis
def test_deposits_go_out_in_batches_after_commit_and_a_waiting_one_is_not_queued_twice(
    broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    work = {10**9 + n: ("0x" + f"{n:02x}" * 32 if n % 2 else "") for n in range(45)}
    marks_cleared(work)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deposits_credit_enqueue(work)
    assert (len(callbacks), queued(broker)) == (1, [])  # nothing leaves before the commit
    callbacks[0]()
    with django_capture_on_commit_callbacks(execute=True):
        deposits_credit_enqueue(work)  # the next pass, while the messages wait: nothing new

    pairs = [[d, h] for d, h in work.items()]
    assert queued(broker) == [
        ("payments.deposits_credit", [pairs[:20]]),
        ("payments.deposits_credit", [pairs[20:40]]),
        ("payments.deposits_credit", [pairs[40:]]),
    ]
    lost = 10**9 + 3
    cache.delete(tasks._queued_key(lost, work[lost]))  # its mark expired: the message was lost
    with django_capture_on_commit_callbacks(execute=True):
        deposits_credit_enqueue(work)
    assert queued(broker)[3:] == [("payments.deposits_credit", [[[lost, work[lost]]]])]
    marks_cleared(work)


@pytest.mark.redis
def test_a_batch_credits_each_deposit_alone_and_sends_a_transient_failure_on_by_itself(
    env: SimpleNamespace,
    broker: redis.Redis,
    lost: list[dict[int, str]],
    make_client: Callable[..., ClientProfile],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    late = topup_create(client=make_client(), network_code="usdt-erc20", amount="50").topup
    TopUp.objects.filter(pk=late.pk).update(expires_at=timezone.now())  # valued at today's rate
    env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.pay(late.address.address, 50 * USDT)
    env.chain.mine(3)
    scan(env)
    (handed,) = lost
    on_time, paid_late = (Deposit.objects.get(topup=t) for t in (env.topup, late))

    def down(**kwargs: Any) -> Any:
        raise RateUnavailable()

    monkeypatch.setattr("payments.services.deposits.rate_quote", down)
    items = [[paid_late.pk, handed[paid_late.pk]], [10**9, ""], [on_time.pk, handed[on_time.pk]]]

    assert tasks.deposits_credit(items) == {"retrying": 1, "missing": 1, "credited": 1}

    assert queued(broker) == [("payments.deposit_credit", [paid_late.pk, handed[paid_late.pk]])]
    statuses = dict(Deposit.objects.values_list("pk", "status"))
    assert statuses == {on_time.pk: "credited", paid_late.pk: "pending"}
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 1


# -- scanners racing without the lock ---------------------------------------------------------------


class Together:
    """The memory chain, whose first ``scan`` (or first ``block_ref``) waits until both scanners are
    there: both read the same range before either records it."""

    def __init__(self, chain: MemoryChain, barrier: threading.Barrier, where: str) -> None:
        self.chain, self.barrier, self.where, self.spec = chain, barrier, where, chain.spec
        self.waited = False

    def _meet(self, where: str) -> None:
        if where == self.where and not self.waited:
            self.waited = True
            self.barrier.wait(10)

    def head(self) -> int:
        return self.chain.head()

    def final_height(self) -> int | None:
        return None

    def block_ref(self, height: int) -> BlockRef:
        self._meet("block_ref")
        return self.chain.block_ref(height)

    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        result = self.chain.scan(start, end, watched)
        self._meet("scan")
        return result

    def transaction(self, tx_hash: str, watched: Set[str]) -> Any:
        return self.chain.transaction(tx_hash, watched)


@contextmanager
def no_lock(network: Network) -> Iterator[bool]:
    yield True


def race(chain: MemoryChain, network: Network, where: str) -> list[Any]:
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(slot: int) -> None:
        try:
            fresh = Network.objects.get(pk=network.pk)
            results[slot] = scan_network_once(network=fresh, adapter=Together(chain, barrier, where))
        except BaseException as exc:  # the test asserts there is none
            results[slot] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["scan", "block_ref"])  # the same range / the very first pass
def test_two_scanners_without_the_lock_record_and_credit_once_and_neither_fails(
    make_network: Callable[..., Network],
    make_client: Callable[..., ClientProfile],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    monkeypatch.setattr("payments.scanner.network_scan_lock", no_lock)
    network = make_network("usdt-erc20", confirmations=3)
    clients = [make_client() for _ in range(3)]
    topups = [topup_create(client=c, network_code="usdt-erc20", amount="50").topup for c in clients]
    chain = memory_chain(network)
    chain.mine(5)
    if where == "scan":
        scan_network_once(network=network, adapter=chain)  # the cursor exists: they race on a range
    for topup in topups:
        chain.pay(topup.address.address, 50 * USDT)
    chain.mine(3)
    seen: list[int] = []
    listen: Callable[[Any], None] = lambda fact: seen.append(fact.deposit_id)  # noqa: E731
    listener_register("deposit_seen", listen)
    try:
        with caplog.at_level(logging.WARNING, logger="payments.scanner"):
            results = race(chain, network, where)
    finally:
        listener_unregister("deposit_seen", listen)

    assert all(isinstance(r, ScanOutcome) and not r.skipped for r in results), results
    assert "another scanner got there first" in caplog.text
    assert ScanCursor.objects.get().height == chain.head()
    deposits = list(Deposit.objects.order_by("pk"))
    assert [d.status for d in deposits] == ["credited"] * 3
    assert sorted(seen) == [d.pk for d in deposits]  # seen once per deposit, by the insert that won
    assert [balance_get(client=c).available for c in clients] == [Decimal("50.00")] * 3
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 3
    assert all(audit(d) == [("pending", "confirmed"), ("confirmed", "credited")] for d in deposits)


def test_a_deposit_that_breaks_does_not_hold_the_rest_of_its_batch(
    env: SimpleNamespace,
    lost: list[dict[int, str]],
    make_client: Callable[..., ClientProfile],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = topup_create(client=make_client(), network_code="usdt-erc20", amount="50").topup
    env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.pay(other.address.address, 50 * USDT)
    env.chain.mine(3)
    scan(env)
    (handed,) = lost
    broken, fine = (Deposit.objects.get(topup=t) for t in (env.topup, other))
    real = tasks.deposit_credit_run

    def sometimes(*, deposit_id: int, block_hash: str) -> Deposit:
        if deposit_id == broken.pk:
            raise RuntimeError("a bug")
        return real(deposit_id=deposit_id, block_hash=block_hash)

    monkeypatch.setattr(tasks, "deposit_credit_run", sometimes)
    cache.set(tasks._queued_key(broken.pk, handed[broken.pk]), 1, timeout=60)

    with caplog.at_level(logging.ERROR, logger="payments.tasks"):
        outcome = tasks.deposits_credit([[broken.pk, handed[broken.pk]], [fine.pk, handed[fine.pk]]])

    assert outcome == {"failed": 1, "credited": 1}
    assert f"deposit {broken.pk} could not be credited" in caplog.text
    assert cache.get(tasks._queued_key(broken.pk, handed[broken.pk])) is None  # the next pass may retry
    assert dict(Deposit.objects.values_list("pk", "status")) == {broken.pk: "pending", fine.pk: "credited"}
