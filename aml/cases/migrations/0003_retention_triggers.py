"""Client documents and statements: append-only, deletable only once their case's AML period is over.

Both tables refuse every UPDATE. A DELETE passes only for a row whose case was closed before the
cut-off that the deleting transaction declared (``SET LOCAL nexora.purge_before``, which
``nexora.common.models.append_only_purge`` does for the retention purge). The clock of these rows
is their case's closure (docs/privacy.md), not their own ``created_at``: that is why they get
their own function rather than ``nexora_refuse_change_unless_expired``. An open case (no
``closed_at``) never lets anything through. Statements had the strict trigger; documents had only
the model layer's guard until now.
"""

from django.db import migrations

from nexora.common.sql import REFUSE_CHANGE_FUNCTION, append_only_sql, run_on_postgres

CASE_EXPIRED_FUNCTION = """
CREATE OR REPLACE FUNCTION cases_refuse_change_unless_case_expired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM cases_case
        WHERE id = OLD.case_id
          AND closed_at < NULLIF(current_setting('nexora.purge_before', true), '')::timestamptz
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
"""
TABLES = ("cases_clientstatement", "cases_clientdocument")


def _attach(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION cases_refuse_change_unless_case_expired();"
    )


def _detach(table: str) -> str:
    return f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};"


forward = [CASE_EXPIRED_FUNCTION, *(_detach(t) for t in TABLES), *(_attach(t) for t in TABLES)]
backward = [
    *(_detach(t) for t in TABLES),
    REFUSE_CHANGE_FUNCTION,
    append_only_sql("cases_clientstatement")[0],
    "DROP FUNCTION IF EXISTS cases_refuse_change_unless_case_expired();",
]


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_documents")]

    operations = [migrations.RunPython(run_on_postgres(*forward), run_on_postgres(*backward))]
