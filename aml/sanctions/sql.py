"""PostgreSQL DDL for the sanctions tables: history that can be closed but never rewritten.

``nexora.common.sql`` already gives fully append-only tables (``SanctionsImport`` uses it). A
listing or deny-list entry, though, must be *closed* later (delisted, removed), so it needs a
narrower rule, enforced by ``sanctions_guard_row()``:

* DELETE is refused, always;
* an UPDATE of a row whose ``status`` is no longer the open value (``TG_ARGV[0]``) is refused: a
  closed row is frozen;
* an UPDATE of an open row may change only the columns named in ``TG_ARGV[1:]`` (the closing
  columns, and for listings the details OFAC may revise); any other difference is refused. The
  comparison is of the whole rows as ``jsonb`` minus those columns, so a column added later is
  protected without touching this function.

Errors use SQLSTATE 23001 (restrict_violation), which Django raises as ``IntegrityError``.
TRUNCATE is not covered (it fires no row triggers), as for the ledger: it needs table ownership.
"""

from __future__ import annotations

GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION sanctions_guard_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before_row jsonb;
    after_row jsonb;
    i integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status <> TG_ARGV[0] THEN
        RAISE EXCEPTION '% row % is closed (%): UPDATE refused', TG_TABLE_NAME, OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    before_row := to_jsonb(OLD);
    after_row := to_jsonb(NEW);
    FOR i IN 1 .. TG_NARGS - 1 LOOP
        before_row := before_row - TG_ARGV[i];
        after_row := after_row - TG_ARGV[i];
    END LOOP;
    IF before_row IS DISTINCT FROM after_row THEN
        RAISE EXCEPTION '% row %: only the closing and detail columns may change', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
"""
DROP_GUARD_FUNCTION = "DROP FUNCTION IF EXISTS sanctions_guard_row();"


def guard_sql(table: str, open_status: str, mutable: tuple[str, ...]) -> tuple[str, str]:
    """(forward, reverse) SQL attaching ``sanctions_guard_row`` to ``table``."""
    name = f"{table}_guard"
    args = ", ".join(f"'{arg}'" for arg in (open_status, *mutable))
    forward = (
        f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION sanctions_guard_row({args});"
    )
    return forward, f"DROP TRIGGER IF EXISTS {name} ON {table};"
