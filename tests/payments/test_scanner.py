"""The scanner on an in-memory chain: cursor, confirmations, reorgs, node faults, the lock."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection

from payments.chains.base import ChainError
from payments.hooks import Verdict, screener_register, screener_unregister
from payments.models import Deposit, Hold, LedgerTransaction, OperatorAlert, ScanCursor, ScannedBlock, TopUp
from payments.scanner import _lock_key, network_scan_lock, scan_network_once
from payments.selectors.ledger import balance_get
from payments.services.topups import topup_create
from tests.payments.memory_chain import memory_chain

pytestmark = pytest.mark.django_db
USDT = 10**6


@pytest.fixture
def env(make_network, make_client):
    network = make_network("usdt-erc20", confirmations=3)
    client = make_client()
    chain = memory_chain(network)
    chain.mine(5)
    topup = topup_create(client=client, network_code="usdt-erc20", amount="50").topup
    return SimpleNamespace(network=network, client=client, chain=chain, topup=topup)


def scan(env, batch=100):
    return scan_network_once(network=env.network, adapter=env.chain, batch=batch)


def test_first_pass_starts_confirmations_below_the_head_and_scans_every_block(env):
    outcome = scan(env)
    assert (outcome.head, outcome.height, outcome.blocks) == (5, 5, 3)  # 3..5 after a start at 5-3=2
    env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine(7)
    for _ in range(4):
        scan(env, batch=2)  # 12 blocks in steps of 2
    cursor = ScanCursor.objects.get()
    assert (cursor.height, cursor.head) == (12, 12)
    assert list(ScannedBlock.objects.order_by("height").values_list("height", flat=True)) == list(
        range(2, 13)
    )
    assert TopUp.objects.get().status == "completed"
    assert balance_get(client=env.client).available == Decimal("50.00")


def test_confirmations_are_recounted_on_later_passes(env):
    scan(env)
    env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine()
    scan(env)
    assert (Deposit.objects.get().confirmations, Deposit.objects.get().status) == (1, "pending")
    env.chain.mine()
    scan(env)
    assert Deposit.objects.get().confirmations == 2
    env.chain.mine()
    scan(env)
    assert (Deposit.objects.get().confirmations, Deposit.objects.get().status) == (3, "credited")


def test_shallow_reorg_drops_the_payment_and_a_remined_one_is_credited_once(env):
    scan(env)
    tx = env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine(2)
    scan(env)
    assert Deposit.objects.get().status == "pending"
    env.chain.reorg(2)  # the payment's block and the next are replaced by empty blocks
    outcome = scan(env)
    assert outcome.reorg_depth == 2
    assert Deposit.objects.get().status == "reorged"
    assert TopUp.objects.get().status == "awaiting_payment"
    env.chain.mempool.append(tx)
    env.chain.mine(3)
    scan(env)
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.block_height) == ("credited", 8)
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").count() == 1


def test_reorg_that_keeps_the_transaction_moves_it_to_its_new_block(env):
    scan(env)
    tx = env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine(2)
    scan(env)
    old_hash = Deposit.objects.get().block_hash
    env.chain.reorg(2, keep={tx.tx_hash})
    env.chain.mine(1)
    scan(env)
    deposit = Deposit.objects.get()
    assert deposit.block_hash != old_hash and deposit.status == "pending"
    env.chain.mine(2)
    scan(env)
    assert Deposit.objects.get().status == "credited"
    assert balance_get(client=env.client).available == Decimal("50.00")


def test_node_fault_leaves_the_cursor_where_it_was(env, monkeypatch):
    scan(env)
    env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine(3)

    def broken(*args, **kwargs):
        raise ChainError("connection reset")

    monkeypatch.setattr(env.chain, "scan", broken)
    with pytest.raises(ChainError):
        scan(env)
    assert ScanCursor.objects.get().height == 5 and not Deposit.objects.exists()
    monkeypatch.undo()
    scan(env)
    assert ScanCursor.objects.get().height == 8 and Deposit.objects.get().status == "credited"


def test_blocks_that_do_not_chain_to_the_cursor_are_refused(env, monkeypatch):
    scan(env)
    env.chain.mine(2)
    real_scan = env.chain.scan

    def skipping(start, end, watched):
        result = real_scan(start, end, watched)
        return type(result)(blocks=result.blocks[1:], transfers=result.transfers)

    monkeypatch.setattr(env.chain, "scan", skipping)
    with pytest.raises(ChainError):
        scan(env)
    assert ScanCursor.objects.get().height == 5


def credited_then_deep_reorged(env, keep=frozenset()):
    scan(env)
    tx = env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine(3)
    scan(env)
    assert Deposit.objects.get().status == "credited"
    env.chain.reorg(3, keep={tx.tx_hash} if keep else frozenset())
    scan(env)
    return tx


def test_deep_reorg_alerts_then_reverses_the_credit_if_the_payment_does_not_return(env):
    credited_then_deep_reorged(env)
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.orphaned_at_head, deposit.block_height) == ("credited", 8, None)
    assert list(OperatorAlert.objects.values_list("kind", flat=True)) == ["deep_reorg"]
    env.chain.mine(2)
    scan(env)
    assert Deposit.objects.get().status == "credited"  # 2 of 3 blocks: it may still come back
    env.chain.mine(1)
    scan(env)
    deposit = Deposit.objects.get()
    assert deposit.status == "reversed"
    assert (TopUp.objects.get().status, TopUp.objects.get().credited_amount) == ("invalid", Decimal("0.00"))
    assert balance_get(client=env.client).available == Decimal("0.00")
    assert sorted(OperatorAlert.objects.values_list("kind", flat=True)) == ["deep_reorg", "deposit_reversed"]
    keys = sorted(
        LedgerTransaction.objects.filter(client=env.client).values_list("idempotency_key", flat=True)
    )
    assert keys == [f"deposit:{deposit.pk}:credit", f"deposit:{deposit.pk}:reorg"]
    scan(env)  # nothing more happens
    assert LedgerTransaction.objects.filter(client=env.client).count() == 2


def test_deep_reorg_where_the_payment_is_mined_again_keeps_the_credit(env):
    credited_then_deep_reorged(env, keep=True)
    env.chain.mine(4)
    scan(env)
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.orphaned_at_head, deposit.block_height) == ("credited", None, 9)
    assert balance_get(client=env.client).available == Decimal("50.00")
    assert LedgerTransaction.objects.filter(client=env.client).count() == 1


def test_deep_reorg_of_spent_money_is_not_forced_below_zero(env):
    from payments.services.charges import charge_create

    credited_then_deep_reorged(env)
    charge_create(client_id=env.client.pk, amount=Decimal("40.00"), currency="USD", description="VPS",
                  order_ref="", idempotency_key="spend")  # fmt: skip
    env.chain.mine(3)
    scan(env)
    assert Deposit.objects.get().status == "credited"
    assert balance_get(client=env.client).available == Decimal("10.00")
    assert sorted(OperatorAlert.objects.values_list("kind", flat=True)) == ["deep_reorg", "reversal_blocked"]


def test_deep_reorg_of_a_held_deposit_reverses_the_hold(env):
    def review(fact):
        return Verdict.REVIEW

    screener_register("deposit_confirmed", review)
    try:
        credited_then_deep_reorged(env)
    finally:
        screener_unregister("deposit_confirmed", review)
    env.chain.mine(3)
    scan(env)
    balance = balance_get(client=env.client)
    assert (Deposit.objects.get().status, balance.available, balance.held) == ("reversed", 0, 0)
    assert Hold.objects.get().status == "closed"


@contextmanager
def lock_held_elsewhere(network):
    """Hold the network's scan lock from another session (PostgreSQL) or the shared cache."""
    if connection.vendor != "postgresql":
        with network_scan_lock(network) as acquired:
            assert acquired
            yield
        return
    db = connection.settings_dict
    other = psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432)
    try:
        row = other.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(network)]).fetchone()
        assert row is not None and row[0] is True
        yield
        # Unlock explicitly: a closed session's locks go only when its backend exits, a moment later.
        other.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(network)])
    finally:
        other.close()


def test_a_held_lock_skips_the_pass(env):
    with lock_held_elsewhere(env.network):
        assert scan(env).skipped
        assert not ScanCursor.objects.exists()
    assert not scan(env).skipped


def test_a_refused_range_is_halved_until_the_provider_accepts_it(env, monkeypatch):
    from payments.chains.base import RangeTooLarge

    scan(env)
    env.chain.pay(env.topup.address.address, 50 * USDT)
    env.chain.mine(10)
    real_scan, asked = env.chain.scan, []

    def picky(start, end, watched):
        asked.append((start, end))
        if end - start + 1 > 3:
            raise RangeTooLarge("query returned more than 10000 results")
        return real_scan(start, end, watched)

    monkeypatch.setattr(env.chain, "scan", picky)
    outcome = scan(env, batch=10)
    assert asked == [(6, 15), (6, 10), (6, 8)]
    assert (outcome.blocks, ScanCursor.objects.get().height) == (3, 8)
