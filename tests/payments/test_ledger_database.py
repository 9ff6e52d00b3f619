"""The ledger's rules hold in PostgreSQL itself, even against raw SQL (invariant 1)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from nexora.common.models import StatusChange
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.services.ledger import client_accounts, ledger_credit

pytestmark = pytest.mark.postgres


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE payments_ledgerentry SET amount = amount * 2",
        "DELETE FROM payments_ledgerentry",
        "UPDATE payments_ledgertransaction SET reference = 'changed'",
        "DELETE FROM payments_ledgertransaction",
    ],
)
def test_raw_update_or_delete_of_ledger_rows_fails(make_client, sql):
    make_client(balance="10.00")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
    assert sorted(LedgerEntry.objects.values_list("amount", flat=True)) == [
        Decimal("-10.00"),
        Decimal("10.00"),
    ]


@pytest.mark.django_db
def test_raw_update_of_status_audit_fails(make_client):
    from nexora.accounts.services import account_freeze

    account_freeze(profile=make_client(), reason="test")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE common_statuschange SET reason = 'rewritten'")
    assert StatusChange.objects.get().reason == "test"


def _raw_transaction(cur, key: str) -> int:
    cur.execute(
        "INSERT INTO payments_ledgertransaction (kind, idempotency_key, reference, description, created_at)"
        " VALUES ('adjustment', %s, '', '', now()) RETURNING id",
        [key],
    )
    return cur.fetchone()[0]


def _raw_entry(cur, txn_id: int, account: LedgerAccount, amount: str) -> None:
    cur.execute(
        "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount, currency, created_at)"
        " VALUES (%s, %s, %s, 'USD', now())",
        [txn_id, account.pk, amount],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("amounts", [["5.00", "-4.00"], ["5.00"], []])
def test_unbalanced_transaction_fails_at_commit(make_client, amounts):
    client = make_client()
    available, held = client_accounts(client, "USD")
    accounts = [available, held]
    # pytest.raises is outermost: the error comes when atomic() exits, i.e. at COMMIT.
    with (
        pytest.raises(IntegrityError, match=r"at least 2|does not balance"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        txn_id = _raw_transaction(cur, "raw-unbalanced")
        for account, amount in zip(accounts, amounts, strict=False):
            _raw_entry(cur, txn_id, account, amount)
    assert not LedgerTransaction.objects.filter(idempotency_key="raw-unbalanced").exists()


@pytest.mark.django_db(transaction=True)
def test_balanced_raw_transaction_commits_and_late_entry_fails(make_client):
    client = make_client()
    available, held = client_accounts(client, "USD")
    with transaction.atomic(), connection.cursor() as cur:
        txn_id = _raw_transaction(cur, "raw-ok")
        _raw_entry(cur, txn_id, available, "3.00")
        _raw_entry(cur, txn_id, held, "-3.00")
    with (
        pytest.raises(IntegrityError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        _raw_entry(cur, txn_id, available, "1.00")
    assert LedgerEntry.objects.filter(transaction_id=txn_id).count() == 2


@pytest.mark.django_db(transaction=True)
def test_negative_client_balance_is_refused_by_the_database(make_client):
    client = make_client()
    ledger_credit(client=client, amount=Decimal("1.00"), idempotency_key="c")
    with (
        pytest.raises(IntegrityError, match="ledger_account_balance_not_negative"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute("UPDATE payments_ledgeraccount SET balance = -1 WHERE client_id = %s", [client.pk])
