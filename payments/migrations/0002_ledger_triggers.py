"""Database-enforced ledger rules on PostgreSQL (ARCHITECTURE.md invariant 1).

* Entries and transactions are append-only (``nexora_refuse_change``).
* A transaction must have at least two entries summing to zero per currency. Checked by deferred
  constraint triggers, i.e. at COMMIT, so a service can insert the transaction row and then its
  entries; a transaction left unbalanced fails to commit. The entry-level trigger also catches an
  entry slipped into an old transaction later.
"""

from django.db import migrations

from nexora.common.sql import append_only_sql, run_on_postgres

CHECK_FUNCTION = """
CREATE OR REPLACE FUNCTION payments_ledger_check_balanced(txn_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n_entries integer;
    bad_currency text;
BEGIN
    SELECT count(*) INTO n_entries FROM payments_ledgerentry WHERE transaction_id = txn_id;
    IF n_entries < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; at least 2 are required',
            txn_id, n_entries USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency INTO bad_currency FROM payments_ledgerentry WHERE transaction_id = txn_id
        GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF bad_currency IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', txn_id, bad_currency
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION payments_ledgertransaction_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM payments_ledger_check_balanced(NEW.id);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION payments_ledgerentry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM payments_ledger_check_balanced(NEW.transaction_id);
    RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE CONSTRAINT TRIGGER payments_ledgertransaction_balanced
    AFTER INSERT ON payments_ledgertransaction DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments_ledgertransaction_balanced();
CREATE CONSTRAINT TRIGGER payments_ledgerentry_balanced
    AFTER INSERT ON payments_ledgerentry DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payments_ledgerentry_balanced();
"""

DROP = """
DROP TRIGGER IF EXISTS payments_ledgertransaction_balanced ON payments_ledgertransaction;
DROP TRIGGER IF EXISTS payments_ledgerentry_balanced ON payments_ledgerentry;
DROP FUNCTION IF EXISTS payments_ledgertransaction_balanced();
DROP FUNCTION IF EXISTS payments_ledgerentry_balanced();
DROP FUNCTION IF EXISTS payments_ledger_check_balanced(bigint);
"""

entry_fwd, entry_rev = append_only_sql("payments_ledgerentry")
txn_fwd, txn_rev = append_only_sql("payments_ledgertransaction")


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial"), ("common", "0002_statuschange_append_only")]

    operations = [
        migrations.RunPython(
            run_on_postgres(CHECK_FUNCTION, TRIGGERS, entry_fwd, txn_fwd),
            run_on_postgres(entry_rev, txn_rev, DROP),
        ),
    ]
