"""The scanner's scenarios on a real EVM node (anvil): what each kind of payment, reorg, node fault,
concurrent scanner and crash ends as, down to the last cent.

Every test runs its own chain (anvil starts in a fraction of a second), creates a network whose
``confirmations`` is 2, lets a first scanner pass place the cursor, creates top-ups, pays them on
chain and drives the scanner (the Celery task ``scan_network``, eager here, or
``scan_network_once`` with a hand-built adapter when the test needs its own timeout or a fault).
Each asserts the EXACT final state through :class:`Outcome`: available and held balance, the
top-up's status / exception / credited amount, every deposit's status and the number of ledger
transactions keyed ``deposit:`` (so nothing is credited twice and nothing is lost).

Node faults come from :class:`tests.chain.fault_proxy.FaultProxy` between the adapter and anvil;
after a faulted pass the cursor (height and hash) and the stored blocks must be exactly as before
(ARCHITECTURE.md invariant 3), and once the proxy passes through again the payment is credited
exactly once (invariant 2). Concurrency that depends on PostgreSQL (the session advisory lock seen
from two sessions or two processes, row locks between racing scanners) is marked ``postgres``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
from celery.exceptions import Retry
from django.conf import LazySettings
from django.db import IntegrityError, connection, connections
from django.utils import timezone
from eth_typing import ChecksumAddress

from nexora.accounts.models import ClientProfile
from payments.chains.base import BlockRef, ChainAdapter, ChainError, NetworkSpec, ScanResult, Transfer
from payments.chains.evm import EvmAdapter
from payments.models import (
    Deposit,
    LedgerTransaction,
    Network,
    OperatorAlert,
    ScanCursor,
    ScannedBlock,
    TopUp,
)
from payments.scanner import ScanOutcome, network_scan_lock, scan_network_once
from payments.selectors.ledger import balance_get
from payments.services.networks import network_spec
from payments.services.quotes import rate_service
from payments.services.topups import topup_create, topups_expire_due
from payments.tasks import scan_network
from tests.chain.anvil import Anvil
from tests.chain.fault_proxy import FaultProxy, Methods, Mode
from tests.outcome import Outcome, expect, outcome

pytestmark = [pytest.mark.anvil, pytest.mark.django_db]

ONE_USDT = 10**6
WEI_PER_3_USD = 10**15  # 0.001 ETH at the static ETH/USD rate of 3000
CONFIRMATIONS = 2
DEAD_URL = "http://127.0.0.1:1"
# The adapter's timeout in the fault tests, and how long the proxy's "hang" holds a request (until
# the proxy closes, in practice). A healthy request through the proxy takes ~0.05 s, and ~0.12 s at
# worst with a load average of 10 on two cores; 0.3 s was too tight under a full parallel run. A
# "hang" costs a test this timeout, so it stays a few seconds, far below the hang.
FAULT_TIMEOUT_S = 2.0
HANG_S = 60.0
ROOT = Path(__file__).resolve().parents[2]
Asset = Literal["usdt", "eth"]


# -- the rig: one chain, one network, the scanner --------------------------------------------------


@dataclass
class Rig:
    chain: Anvil
    network: Network
    token: str  # the official token contract; "" for ETH

    @property
    def code(self) -> str:
        return self.network.code

    @property
    def payer(self) -> ChecksumAddress:
        return self.chain.accounts[1]

    def units(self, usd: int) -> int:
        """Base units worth ``usd`` at the static rates (USDT 1, ETH 3000)."""
        if self.token:
            return usd * ONE_USDT
        assert usd % 3 == 0, "ETH amounts are whole only for multiples of 3 USD"
        return usd // 3 * WEI_PER_3_USD

    def send(self, to: str, units: int) -> str:
        """Send a payment without waiting for it (automine off: it waits for ``mine``)."""
        if self.token:
            return self.chain.token_transfer(self.token, to, units, sender=self.payer)
        return self.chain.send_eth(to, units, sender=self.payer)

    def pay(self, to: str, units: int) -> str:
        """Pay and wait until the payment is mined (in a block of its own, with automine)."""
        tx = self.send(to, units)
        self.chain.receipt(tx)
        return tx

    def adapter(self, *, timeout_s: float | None = None) -> EvmAdapter:
        spec = network_spec(Network.objects.get(pk=self.network.pk))
        return EvmAdapter(spec if timeout_s is None else replace(spec, timeout_s=timeout_s))

    def scan(self, adapter: ChainAdapter | None = None) -> dict[str, Any] | ScanOutcome:
        """One pass: the Celery task (the production path), or ``scan_network_once`` on ``adapter``."""
        if adapter is None:
            result: dict[str, Any] = scan_network.delay(self.network.pk).get()
            return result
        network = Network.objects.get(pk=self.network.pk)
        return scan_network_once(network=network, adapter=adapter)

    def settle(self, adapter: ChainAdapter | None = None) -> None:
        """Scan, mine the confirmations, scan until the cursor is at the head."""
        self.scan(adapter)
        self.chain.mine(CONFIRMATIONS)
        for _ in range(3):
            self.scan(adapter)
        assert self.cursor()[0] == self.chain.block_number()

    def cursor(self) -> tuple[int, str]:
        cursor = ScanCursor.objects.get(network=self.network)
        return cursor.height, cursor.block_hash


@pytest.fixture
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture
def proxy(chain: Anvil) -> Iterator[FaultProxy]:
    with FaultProxy(chain.url, hang_s=HANG_S) as fault_proxy:
        yield fault_proxy


MakeRig = Callable[..., Rig]


@pytest.fixture
def make_rig(chain: Anvil, make_network: Callable[..., Network]) -> MakeRig:
    def make(asset: Asset, *, urls: Sequence[str] = (), **options: Any) -> Rig:
        """A network on ``chain`` (through ``urls`` if given), its cursor placed by a first pass."""
        token = ""
        if asset == "usdt":
            owner = chain.accounts[0]
            token = chain.deploy("TetherToken", sender=owner)
            chain.receipt(chain.token_mint(token, chain.accounts[1], 10_000 * ONE_USDT, sender=owner))
        overrides: dict[str, Any] = {
            "chain_id": 31337,
            "node_urls": list(urls or [chain.url]),
            "confirmations": CONFIRMATIONS,
            "options": {"backoff_s": 0, **options},
        }
        if token:
            overrides["token_contract"] = token
        base = "usdt-erc20" if token else "eth"
        rig = Rig(chain=chain, network=make_network(f"{base}@{asset}-anvil", **overrides), token=token)
        rig.scan(rig.adapter(timeout_s=FAULT_TIMEOUT_S) if urls else None)  # before any payment
        return rig

    return make


# -- exact outcomes ------------------------------------------------------------------------------


def paid_in_full(usd: str = "30.00", deposits: tuple[str, ...] = ("credited",)) -> Outcome:
    return expect(available=usd, status="completed", credited=usd, deposits=deposits, credits=len(deposits))


def new_topup(client: ClientProfile, rig: Rig, amount: str = "30.00") -> TopUp:
    return topup_create(client=client, network_code=rig.code, amount=amount).topup


def stored_blocks(rig: Rig) -> list[tuple[int, str]]:
    return list(
        ScannedBlock.objects.filter(network=rig.network)
        .order_by("height")
        .values_list("height", "block_hash")
    )


def in_one_block(chain: Anvil, send: Callable[[], list[str]]) -> list[str]:
    """Run ``send`` with automine off and mine its transactions into one block."""
    chain.set_automine(False)
    try:
        hashes = send()
        chain.mine(1)
    finally:
        chain.set_automine(True)
    return hashes


def set_rate(settings: LazySettings, pair: str, value: str) -> None:
    settings.NEXORA_STATIC_RATES = {**settings.NEXORA_STATIC_RATES, pair: value}
    rate_service.cache_clear()


# -- 1. exact payment ----------------------------------------------------------------------------


@pytest.mark.parametrize("asset", ["usdt", "eth"])
def test_an_exact_payment_is_pending_then_credited_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], asset: Asset
) -> None:
    rig = make_rig(asset)
    client = make_client()
    topup = new_topup(client, rig)
    assert topup.crypto_amount == rig.units(30)
    tx = rig.pay(topup.address.address, topup.crypto_amount)

    rig.scan()
    deposit = Deposit.objects.get()
    assert (deposit.tx_hash, deposit.index, deposit.amount, deposit.sender, deposit.confirmations) == (
        tx,
        0,
        rig.units(30),
        rig.payer,
        1,
    )
    assert outcome(client, topup) == expect(status="confirming", deposits=("pending",))

    rig.chain.mine(CONFIRMATIONS - 1)
    rig.scan()
    rig.scan()  # another pass (a retry, another worker) changes nothing
    assert outcome(client, topup) == paid_in_full()
    assert rig.cursor()[0] == rig.chain.block_number()


# -- 2. underpaid, overpaid, two payments --------------------------------------------------------

AMOUNTS = {
    # name: (USD amounts paid, all in one block?, top-up status, exception)
    "underpaid": ((21,), False, "awaiting_payment", "underpaid"),
    "overpaid": ((45,), False, "completed", "overpaid"),
    "two_payments": ((12, 18), False, "completed", "none"),
    "two_payments_one_block": ((12, 18), True, "completed", "none"),
}


@pytest.mark.parametrize("asset", ["usdt", "eth"])
@pytest.mark.parametrize("case", list(AMOUNTS))
def test_partial_excess_and_split_payments_are_each_credited_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], asset: Asset, case: str
) -> None:
    amounts, one_block, status, exception = AMOUNTS[case]
    rig = make_rig(asset)
    client = make_client()
    topup = new_topup(client, rig)
    address = topup.address.address
    if one_block:
        in_one_block(rig.chain, lambda: [rig.send(address, rig.units(usd)) for usd in amounts])
    else:
        for usd in amounts:
            rig.pay(address, rig.units(usd))

    rig.settle()

    total = f"{sum(amounts)}.00"
    assert outcome(client, topup) == expect(
        available=total,
        status=status,
        exception=exception,
        credited=total,
        deposits=("credited",) * len(amounts),
        credits=len(amounts),
    )
    credited = Deposit.objects.order_by("credited_amount").values_list("credited_amount", flat=True)
    assert list(credited) == sorted(Decimal(usd) for usd in amounts)


# -- 3. paid late, 4. paid after monitoring -----------------------------------------------------


@pytest.mark.parametrize(
    ("asset", "pair", "rate", "credited"),
    [("usdt", "USDT/USD", "0.98", "29.40"), ("eth", "ETH/USD", "3100", "31.00")],
)
def test_a_late_payment_reopens_the_expired_topup_at_the_current_rate(
    make_rig: MakeRig,
    make_client: Callable[..., ClientProfile],
    settings: LazySettings,
    asset: Asset,
    pair: str,
    rate: str,
    credited: str,
) -> None:
    rig = make_rig(asset)
    client = make_client()
    topup = new_topup(client, rig)
    TopUp.objects.filter(pk=topup.pk).update(expires_at=timezone.now() - timedelta(minutes=5))
    assert topups_expire_due() == 1
    assert TopUp.objects.get(pk=topup.pk).status == "expired"
    set_rate(settings, pair, rate)

    rig.pay(topup.address.address, topup.crypto_amount)
    rig.settle()

    assert outcome(client, topup) == expect(
        available=credited,
        status="completed",
        exception="paid_late",
        credited=credited,
        deposits=("credited",),
        credits=1,
    )
    assert Deposit.objects.values_list("late", "rate").get() == (True, Decimal(rate))


@pytest.mark.parametrize("asset", ["usdt", "eth"])
def test_a_payment_after_monitoring_is_recorded_unapplied_not_credited(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], asset: Asset
) -> None:
    rig = make_rig(asset)
    client = make_client()
    topup = new_topup(client, rig)
    past = timezone.now() - timedelta(minutes=1)
    TopUp.objects.filter(pk=topup.pk).update(expires_at=past - timedelta(days=7), monitor_until=past)
    assert topups_expire_due() == 1

    rig.pay(topup.address.address, topup.crypto_amount)
    rig.settle()

    assert outcome(client, topup) == expect(status="expired", deposits=("unapplied",))
    deposit = Deposit.objects.get()
    assert (deposit.unapplied_reason, deposit.client_id, deposit.amount) == (
        "after_monitoring",
        client.pk,
        rig.units(30),
    )


# -- 5. internal transfer, 6. failed transactions ------------------------------------------------


@pytest.mark.parametrize("trace", [True, False])
def test_an_internal_eth_transfer_is_credited_only_with_trace(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], trace: bool
) -> None:
    rig = make_rig("eth", trace=trace)
    forwarder = rig.chain.deploy("Forwarder", sender=rig.chain.accounts[0])
    client = make_client()
    topup = new_topup(client, rig)
    tx = rig.chain.transact(
        "Forwarder", forwarder, "forward", topup.address.address, sender=rig.payer, value=topup.crypto_amount
    )
    assert rig.chain.receipt(tx)["status"] == 1

    rig.settle()

    if not trace:  # the outer transaction pays the forwarder: without traces the payment is invisible
        assert outcome(client, topup) == expect(status="awaiting_payment")
        return
    assert outcome(client, topup) == paid_in_full()
    deposit = Deposit.objects.get()
    assert (deposit.tx_hash, deposit.index, deposit.sender, deposit.amount) == (
        tx,
        1,
        forwarder,
        rig.units(30),
    )


def test_a_reverted_internal_transfer_credits_nothing(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("eth", trace=True)
    forwarder = rig.chain.deploy("Forwarder", sender=rig.chain.accounts[0])
    client = make_client()
    topup = new_topup(client, rig)
    tx = rig.chain.transact(
        "Forwarder", forwarder, "forwardAndFail", topup.address.address, sender=rig.payer,
        value=topup.crypto_amount, gas=100_000,
    )  # fmt: skip
    assert rig.chain.receipt(tx)["status"] == 0

    rig.settle()

    assert outcome(client, topup) == expect(status="awaiting_payment")


def test_a_reverted_token_transfer_credits_nothing(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    poor = rig.chain.accounts[5]  # holds no USDT: the transfer reverts (mined thanks to the gas limit)
    tx = rig.chain.transact(
        "TetherToken", rig.token, "transfer", topup.address.address, topup.crypto_amount, sender=poor,
        gas=100_000,
    )  # fmt: skip
    assert rig.chain.receipt(tx)["status"] == 0

    rig.settle()

    assert outcome(client, topup) == expect(status="awaiting_payment")


def test_a_reverted_top_level_payment_is_recorded_failed_not_credited(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("eth")
    client = make_client()
    topup = new_topup(client, rig)
    address = topup.address.address
    # An address with code (an EIP-7702 delegation does this to an EOA) that reverts: PUSH0 PUSH0 REVERT.
    rig.chain.rpc("anvil_setCode", [address, "0x5f5ffd"])
    tx = rig.chain.rpc(
        "eth_sendTransaction",
        [{"from": rig.payer, "to": address, "value": hex(topup.crypto_amount), "gas": hex(100_000)}],
    )
    assert rig.chain.receipt(tx)["status"] == 0

    rig.settle()

    assert outcome(client, topup) == expect(status="awaiting_payment", deposits=("failed",))
    assert Deposit.objects.values_list("tx_hash", "amount").get() == (tx, rig.units(30))


# -- 7. the look-alike token ---------------------------------------------------------------------


@pytest.mark.parametrize("foreign_topic_limit", [1000, 0])  # filter by recipient / by official contract
def test_a_lookalike_token_is_never_credited(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], foreign_topic_limit: int
) -> None:
    rig = make_rig("usdt", foreign_topic_limit=foreign_topic_limit)
    owner = rig.chain.accounts[0]
    fake = rig.chain.deploy("FakeUSDT", sender=owner)
    rig.chain.receipt(rig.chain.token_mint(fake, rig.payer, 10_000 * ONE_USDT, sender=owner))
    client = make_client()
    topup = new_topup(client, rig)

    rig.chain.receipt(
        rig.chain.token_transfer(fake, topup.address.address, topup.crypto_amount, sender=rig.payer)
    )
    rig.settle()
    assert outcome(client, topup) == expect(status="awaiting_payment")

    tx = rig.pay(topup.address.address, topup.crypto_amount)  # then the real USDT arrives
    rig.settle()
    assert outcome(client, topup) == paid_in_full()
    assert Deposit.objects.get().tx_hash == tx


# -- 8. reorgs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("asset", ["usdt", "eth"])
def test_a_reorg_that_drops_an_unconfirmed_payment_credits_nothing(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], asset: Asset
) -> None:
    rig = make_rig(asset)
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.scan()
    assert outcome(client, topup) == expect(status="confirming", deposits=("pending",))

    rig.chain.reorg(1)  # the payment's block is replaced by an empty one
    rig.settle()

    assert outcome(client, topup) == expect(status="awaiting_payment", deposits=("reorged",))
    assert rig.cursor() == (rig.chain.block_number(), rig.chain.block("latest")["hash"])


@pytest.mark.parametrize("asset", ["usdt", "eth"])
def test_a_payment_remined_by_a_reorg_in_another_block_is_credited_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], asset: Asset
) -> None:
    rig = make_rig(asset)
    client = make_client()
    topup = new_topup(client, rig)
    tx = rig.pay(topup.address.address, topup.crypto_amount)
    raw = rig.chain.rpc("eth_getRawTransactionByHash", [tx])
    rig.scan()
    first_height = Deposit.objects.get().block_height
    assert first_height is not None
    rig.chain.mine(1)  # not scanned: the reorg comes first

    rig.chain.reorg(2, [(raw, 1)])  # the same signed transaction, one block later
    rig.scan()
    deposit = Deposit.objects.get()
    assert (deposit.tx_hash, deposit.status, deposit.block_height) == (tx, "pending", first_height + 1)
    rig.settle()

    assert outcome(client, topup) == paid_in_full()
    assert Deposit.objects.get().block_hash == rig.chain.block(first_height + 1)["hash"]


def alerts() -> list[tuple[str, int | None]]:
    return list(OperatorAlert.objects.order_by("pk").values_list("kind", "deposit_id"))


def deep_reorg(rig: Rig, deposit: Deposit, transactions: Sequence[tuple[str, int]] = ()) -> None:
    """Replace the deposit's block and every block after it (more blocks than the confirmations)."""
    depth = rig.chain.block_number() - (deposit.block_height or 0) + 1
    assert depth > CONFIRMATIONS
    rig.chain.reorg(depth, transactions)


def test_a_deep_reorg_that_removes_a_credited_payment_reverses_it_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.settle()
    assert outcome(client, topup) == paid_in_full()
    deposit = Deposit.objects.get()

    deep_reorg(rig, deposit)
    with caplog.at_level(logging.ERROR, logger="payments.services.reorgs"):
        rig.scan()  # orphaned: the credit stands while the transfer may still be mined again
        assert outcome(client, topup) == paid_in_full()
        assert alerts() == [("deep_reorg", deposit.pk)]
        rig.settle()  # the new branch grew by the confirmations without it: reversed
        rig.settle()  # and only once

    assert outcome(client, topup) == expect(
        status="invalid", deposits=("reversed",), credits=2, credited="0.00"
    )
    keys = LedgerTransaction.objects.order_by("pk").values_list("idempotency_key", flat=True)
    assert list(keys) == [f"deposit:{deposit.pk}:credit", f"deposit:{deposit.pk}:reorg"]
    assert alerts() == [("deep_reorg", deposit.pk), ("deposit_reversed", deposit.pk)]
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.levelno == logging.ERROR] == [
        "deep_reorg",
        "deposit_reversed",
    ]
    assert ScanCursor.objects.get().last_error == ""


def test_a_deep_reorg_that_mines_the_payment_again_keeps_the_single_credit(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    tx = rig.pay(topup.address.address, topup.crypto_amount)
    raw = rig.chain.rpc("eth_getRawTransactionByHash", [tx])
    rig.settle()
    deposit = Deposit.objects.get()

    deep_reorg(rig, deposit, [(raw, 1)])  # the same signed transaction, one block later
    rig.settle()
    rig.settle()

    assert outcome(client, topup) == paid_in_full()
    moved = Deposit.objects.get()
    height = (deposit.block_height or 0) + 1
    assert (moved.block_height, moved.block_hash, moved.orphaned_at_head) == (
        height,
        rig.chain.block(height)["hash"],
        None,
    )
    assert alerts() == [("deep_reorg", deposit.pk)]


def test_a_payment_mined_again_after_its_reversal_is_not_silently_dropped(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    tx = rig.pay(topup.address.address, topup.crypto_amount)
    raw = rig.chain.rpc("eth_getRawTransactionByHash", [tx])
    rig.settle()
    deep_reorg(rig, Deposit.objects.get())
    rig.settle()
    rig.settle()
    assert Deposit.objects.get().status == "reversed"

    # The dropped transaction comes back from a mempool later (geth re-injects a reorg's transactions).
    assert rig.chain.rpc("eth_sendRawTransaction", [raw]) == tx
    rig.chain.receipt(tx)
    rig.settle()

    # The top-up is invalid (final), so the payment cannot complete it: it must reach staff as
    # an unapplied deposit, like any payment to a closed top-up, not stay hidden as "reversed".
    assert outcome(client, topup) == expect(
        status="invalid", deposits=("unapplied",), credits=2, credited="0.00"
    )
    assert Deposit.objects.get().unapplied_reason == "topup_closed"


def test_a_split_payment_part_mined_again_after_its_reversal_is_credited_again(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, rig.units(12))
    tx = rig.pay(topup.address.address, rig.units(18))
    raw = rig.chain.rpc("eth_getRawTransactionByHash", [tx])
    rig.settle()
    second = Deposit.objects.get(tx_hash=tx)
    deep_reorg(rig, second)  # only the second payment's block and later ones
    rig.settle()
    rig.settle()
    assert outcome(client, topup) == expect(
        available="12.00",
        status="completed",
        exception="underpaid",
        credited="12.00",
        deposits=("credited", "reversed"),
        credits=3,
    )

    assert rig.chain.rpc("eth_sendRawTransaction", [raw]) == tx
    rig.chain.receipt(tx)
    rig.settle()

    # The top-up is still open to credits: the 18 USDT are real again and must be credited again,
    # under a new ledger key (the first credit's key is taken by the reversed transaction).
    assert outcome(client, topup) == replace(paid_in_full(deposits=("credited", "credited")), credits=4)


# -- 9. two scanners at once ---------------------------------------------------------------------


class GatedAdapter:
    """A real adapter whose range scan signals ``entered`` and waits for ``gate``: the test can hold
    a scanner in the middle of its pass (holding the scan lock) while another one starts."""

    def __init__(self, inner: EvmAdapter, entered: threading.Event, gate: threading.Event) -> None:
        self.inner, self.entered, self.gate = inner, entered, gate
        self.spec: NetworkSpec = inner.spec

    def head(self) -> int:
        return self.inner.head()

    def final_height(self) -> int | None:
        return self.inner.final_height()

    def block_ref(self, height: int) -> BlockRef:
        return self.inner.block_ref(height)

    def scan(self, start: int, end: int, watched: Set[str]) -> ScanResult:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        return self.inner.scan(start, end, watched)

    def transaction(self, tx_hash: str, watched: Set[str]) -> tuple[Transfer, ...]:
        return self.inner.transaction(tx_hash, watched)


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a thread with its own database connection; the list gets its result or error."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(target())
        except BaseException as exc:  # the test asserts on it
            box.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_scanner_skips_while_the_first_holds_the_lock(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS - 1)
    entered, gate = threading.Event(), threading.Event()
    network = Network.objects.get(pk=rig.network.pk)

    first, box = in_thread(
        lambda: scan_network_once(network=network, adapter=GatedAdapter(rig.adapter(), entered, gate))
    )
    try:
        assert entered.wait(10), "the first scanner never reached its range scan"
        second = scan_network_once(network=network, adapter=rig.adapter())  # another session
    finally:
        gate.set()
        first.join(10)

    assert second.skipped is True
    (first_outcome,) = box
    assert isinstance(first_outcome, ScanOutcome), first_outcome
    assert (first_outcome.skipped, first_outcome.transfers) == (False, 1)
    assert outcome(client, topup) == paid_in_full()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_scanners_racing_pass_after_pass_credit_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topups = [new_topup(client, rig) for _ in range(3)]
    for topup in topups:
        rig.pay(topup.address.address, topup.crypto_amount)
    barrier = threading.Barrier(2)

    def scanner() -> list[bool]:
        network = Network.objects.get(pk=rig.network.pk)
        barrier.wait(10)
        skipped = []
        for _ in range(4):
            skipped.append(scan_network_once(network=network, adapter=rig.adapter()).skipped)
            rig.chain.mine(1)
        return skipped

    runs = [in_thread(scanner) for _ in range(2)]
    for thread, _ in runs:
        thread.join(30)

    results = [box[0] for _, box in runs]
    assert all(isinstance(r, list) for r in results), results
    assert sum(not skipped for r in results for skipped in r) >= 1
    for topup in topups:
        assert outcome(client, topup).topup == ("completed", "none", Decimal("30.00"))
    assert balance_get(client=client).available == Decimal("90.00")
    assert list(Deposit.objects.values_list("status", flat=True)) == ["credited"] * 3
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_the_lock_racing_scanners_still_credit_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: if two scanners ever ran the same range (a lock lost with its connection),
    the row locks and unique keys keep crediting exactly once; the loser's pass fails and rolls back."""

    @contextmanager
    def no_lock(network: Network) -> Iterator[bool]:
        yield True

    monkeypatch.setattr("payments.scanner.network_scan_lock", no_lock)
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS - 1)
    barrier = threading.Barrier(2)

    def scanner() -> ScanOutcome:
        network = Network.objects.get(pk=rig.network.pk)
        adapter = rig.adapter()
        barrier.wait(10)
        return scan_network_once(network=network, adapter=adapter)

    runs = [in_thread(scanner) for _ in range(2)]
    for thread, _ in runs:
        thread.join(30)

    results = [box[0] for _, box in runs]
    assert all(isinstance(r, ScanOutcome | IntegrityError) for r in results), results
    assert any(isinstance(r, ScanOutcome) for r in results)
    rig.scan()
    assert outcome(client, topup) == paid_in_full()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_scanner_in_another_process_skips_while_the_lock_is_held(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile]
) -> None:
    rig = make_rig("usdt")
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS - 1)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}  # the test database, where this test's rows are committed
    command = [sys.executable, str(ROOT / "manage.py"), "scan_chains", "--once", "--network", rig.code]

    def other_process() -> str:
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with network_scan_lock(Network.objects.get(pk=rig.network.pk)) as held:
        assert held
        assert "(skipped: another scanner holds the lock)" in other_process()
        assert outcome(client, topup) == expect(status="awaiting_payment")
    assert ", transfers 1, " in other_process()
    assert outcome(client, topup) == paid_in_full()


# -- 10. node faults through the proxy -----------------------------------------------------------


def every_call(methods: Methods) -> bool:
    return True


def range_scan(methods: Methods) -> bool:
    """The batch that reads the range (head + blocks + logs/traces): after the head and rewind passed."""
    return len(methods) > 1


def receipts(methods: Methods) -> bool:
    return "eth_getTransactionReceipt" in methods


# What the pass's error says for each fault: a "hang" must end as the adapter's own timeout.
FAULT_SIGNS: dict[Mode, str] = {
    "http500": "HTTP 500",
    "http429": "HTTP 429",
    "hang": f"no answer within {FAULT_TIMEOUT_S} s",
    "drop": "Server disconnected",
    "null_blocks": "the node has no block #",
}

FAULTS: list[tuple[Asset, Callable[[Methods], bool], Mode]] = [
    *(("usdt", every_call, mode) for mode in ("http500", "http429", "hang", "drop")),
    *(("usdt", range_scan, mode) for mode in ("http500", "http429", "hang", "drop", "null_blocks")),
    ("eth", range_scan, "drop"),
    ("eth", range_scan, "null_blocks"),
    ("eth", receipts, "http500"),
    ("eth", receipts, "hang"),
]


@pytest.mark.parametrize(
    ("asset", "where", "mode"), FAULTS, ids=[f"{a}-{w.__name__}-{m}" for a, w, m in FAULTS]
)
def test_a_faulty_node_never_moves_the_cursor_and_the_payment_is_credited_once_it_recovers(
    make_rig: MakeRig,
    make_client: Callable[..., ClientProfile],
    proxy: FaultProxy,
    asset: Asset,
    where: Callable[[Methods], bool],
    mode: Mode,
) -> None:
    rig = make_rig(asset, urls=[proxy.url])
    adapter = rig.adapter(timeout_s=FAULT_TIMEOUT_S)
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS - 1)  # confirmed already: a pass that got through would credit it
    cursor, blocks = rig.cursor(), stored_blocks(rig)

    proxy.set(mode, when=where)
    with pytest.raises(ChainError) as failed:
        rig.scan(adapter)
    assert proxy.faulted >= 1
    assert FAULT_SIGNS[mode] in str(failed.value)  # the injected fault failed the pass, not the load
    assert (rig.cursor(), stored_blocks(rig)) == (cursor, blocks)
    assert outcome(client, topup) == expect(status="awaiting_payment")

    proxy.passthrough()
    proxy.reset_counts()
    rig.settle(adapter)
    assert proxy.requests > 0 and proxy.faulted == 0
    assert outcome(client, topup) == paid_in_full()


def test_the_task_records_the_node_error_and_asks_to_retry(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], proxy: FaultProxy
) -> None:
    rig = make_rig("usdt", urls=[proxy.url])
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS - 1)
    cursor = rig.cursor()
    proxy.set("http500")
    proxy.reset_counts()

    with pytest.raises(Retry):  # eager: the retry is raised, a worker would run it after the countdown
        rig.scan()

    assert proxy.requests == proxy.faulted == 1  # the head read failed: nothing else was asked
    assert rig.cursor() == cursor
    assert ScanCursor.objects.get().last_error.startswith(f"ChainError: {rig.code} eth_blockNumber failed")
    proxy.passthrough()
    rig.settle()
    assert outcome(client, topup) == paid_in_full()


def test_a_flaky_node_that_fails_twice_then_recovers_credits_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], proxy: FaultProxy
) -> None:
    rig = make_rig("eth", urls=[proxy.url])
    adapter = rig.adapter()
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS - 1)
    cursor = rig.cursor()
    proxy.set("drop", when=range_scan, times=2)

    for _ in range(2):
        with pytest.raises(ChainError, match="Server disconnected"):
            rig.scan(adapter)
        assert rig.cursor() == cursor
    rig.scan(adapter)  # the third attempt gets through

    assert proxy.faulted == 2
    assert outcome(client, topup) == paid_in_full()


@pytest.mark.parametrize("asset", ["usdt", "eth-internal"])
def test_a_node_that_hides_the_newest_blocks_results_does_not_lose_the_payment(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], proxy: FaultProxy, asset: str
) -> None:
    rig = make_rig("usdt" if asset == "usdt" else "eth", urls=[proxy.url], trace=True)
    client = make_client()
    topup = new_topup(client, rig)
    if rig.token:
        rig.pay(topup.address.address, topup.crypto_amount)
    else:
        forwarder = rig.chain.deploy("Forwarder", sender=rig.chain.accounts[0])
        rig.scan(rig.adapter())
        tx = rig.chain.transact(
            "Forwarder", forwarder, "forward", topup.address.address, sender=rig.payer,
            value=topup.crypto_amount,
        )  # fmt: skip
        rig.chain.receipt(tx)
    proxy.set("empty_results", near=1)

    rig.scan(rig.adapter())  # the node says "nothing here" for the payment's block, the newest one
    assert proxy.faulted >= 1
    # Nothing told the scanner the answer was incomplete: the block counts as processed.
    assert (rig.cursor()[0], Deposit.objects.count()) == (rig.chain.block_number(), 0)

    proxy.passthrough()
    rig.settle(rig.adapter())
    assert outcome(client, topup) == paid_in_full()


def test_with_a_lag_the_scanner_stays_clear_of_a_node_that_hides_the_newest_blocks(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], proxy: FaultProxy
) -> None:
    """The configuration workaround for the bug above: ``options.lag`` >= the node's index lag."""
    rig = make_rig("usdt", urls=[proxy.url], lag=1)
    client = make_client()
    topup = new_topup(client, rig)
    proxy.set("empty_results", near=1)  # stays on for the whole test

    rig.pay(topup.address.address, topup.crypto_amount)
    rig.scan(rig.adapter())
    assert outcome(client, topup) == expect(status="awaiting_payment")  # not read yet: one block short
    rig.chain.mine(1)
    rig.scan(rig.adapter())  # read now that it is below the hidden block, with 2 confirmations

    assert proxy.faulted > 0
    assert outcome(client, topup) == paid_in_full()
    assert rig.cursor()[0] == rig.chain.block_number() - 1


@pytest.mark.parametrize("first", ["dead", "http500", "hang"])
def test_failover_from_a_broken_first_url_credits_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], proxy: FaultProxy, chain: Anvil, first: str
) -> None:
    rig = make_rig("usdt", urls=[DEAD_URL if first == "dead" else proxy.url, chain.url])
    adapter = rig.adapter(timeout_s=FAULT_TIMEOUT_S)
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    proxy.reset_counts()
    if first == "http500":
        proxy.set("http500")
    elif first == "hang":
        proxy.set("hang", times=2)  # two timeouts prove the point; more only slow the test down

    rig.settle(adapter)

    assert outcome(client, topup) == paid_in_full()
    if first == "http500":
        assert proxy.faulted == proxy.requests > 0  # every request tried it first, then anvil
    if first == "hang":
        assert proxy.faulted == 2


def test_when_every_url_fails_nothing_moves(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], proxy: FaultProxy
) -> None:
    rig = make_rig("usdt", urls=[DEAD_URL, proxy.url])
    client = make_client()
    topup = new_topup(client, rig)
    rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS - 1)
    cursor, blocks = rig.cursor(), stored_blocks(rig)
    proxy.set("http429", when=range_scan)

    with pytest.raises(ChainError, match="failed on every URL"):
        rig.scan(rig.adapter())

    assert (rig.cursor(), stored_blocks(rig)) == (cursor, blocks)
    assert outcome(client, topup) == expect(status="awaiting_payment")


# -- 11. killed mid-range, restarted -------------------------------------------------------------


class Killed(Exception):
    """Stands in for the process dying: the open transaction is rolled back either way."""


def test_a_scanner_killed_mid_range_rolls_back_and_a_restart_credits_each_once(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments import scanner

    rig = make_rig("usdt")
    clients = [make_client() for _ in range(3)]
    topups = [new_topup(client, rig) for client in clients]
    for topup in topups:
        rig.pay(topup.address.address, topup.crypto_amount)
    rig.chain.mine(CONFIRMATIONS)  # every payment is confirmed when first seen: due inside the range
    cursor, blocks = rig.cursor(), stored_blocks(rig)
    record, inside = scanner.deposits_record, []

    def dying_record(**kwargs: Any) -> Any:
        record(**kwargs)
        inside.append((Deposit.objects.count(), ScanCursor.objects.get().height))
        raise Killed  # after the deposits and the cursor were written, before the blocks

    monkeypatch.setattr(scanner, "deposits_record", dying_record)
    with pytest.raises(Killed):
        rig.scan(rig.adapter())

    # The three payments were recorded and the cursor moved inside the range transaction ...
    assert inside == [(3, rig.chain.block_number())]
    assert (rig.cursor(), stored_blocks(rig)) == (cursor, blocks)  # ... and all of it rolled back
    assert (Deposit.objects.count(), LedgerTransaction.objects.count()) == (0, 0)
    assert [outcome(c, t) for c, t in zip(clients, topups, strict=True)] == [
        expect(status="awaiting_payment")
    ] * 3

    monkeypatch.setattr(scanner, "deposits_record", record)
    rig.settle()
    every = ("credited",) * 3
    assert [outcome(c, t) for c, t in zip(clients, topups, strict=True)] == [paid_in_full(deposits=every)] * 3


def test_a_scanner_killed_between_two_credits_credits_the_rest_once_on_restart(
    make_rig: MakeRig, make_client: Callable[..., ClientProfile], monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.services import deposits

    rig = make_rig("eth")
    clients = [make_client() for _ in range(3)]
    topups = [new_topup(client, rig) for client in clients]
    in_one_block(rig.chain, lambda: [rig.send(t.address.address, t.crypto_amount) for t in topups])
    rig.scan()
    assert list(Deposit.objects.values_list("status", flat=True)) == ["pending"] * 3
    rig.chain.mine(CONFIRMATIONS - 1)
    credit, calls = deposits.ledger_credit, []

    def dying_credit(**kwargs: Any) -> LedgerTransaction:
        calls.append(kwargs["idempotency_key"])
        if len(calls) == 2:
            raise Killed
        return credit(**kwargs)

    monkeypatch.setattr(deposits, "ledger_credit", dying_credit)
    with pytest.raises(Killed):
        rig.scan(rig.adapter())

    # However the pass groups its work, a deposit is credited if and only if its money was posted.
    credited = Deposit.objects.filter(status="credited").count()
    assert credited <= 1 and sorted(set(Deposit.objects.values_list("status", flat=True)) - {"credited"}) == [
        "pending"
    ]
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == credited
    assert sum(balance_get(client=c).available for c in clients) == Decimal(30 * credited)

    monkeypatch.setattr(deposits, "ledger_credit", credit)
    rig.scan()
    every = ("credited",) * 3
    assert [outcome(c, t) for c, t in zip(clients, topups, strict=True)] == [paid_in_full(deposits=every)] * 3
