"""PostgreSQL DDL shared by migrations: the append-only triggers.

``nexora_refuse_change()`` raises on UPDATE or DELETE with SQLSTATE 23001 (restrict_violation),
which Django surfaces as ``IntegrityError``. Attach it with ``append_only_sql(table)``. On other
databases (the SQLite demo) the model layer's guard is the only one; CI runs on PostgreSQL.

Some append-only rows have a retention period (the security log: 12 months) and must eventually
go. ``nexora_refuse_change_unless_expired()`` (attach with ``append_only_expirable_sql(table)``)
refuses every UPDATE, and every DELETE except of a row whose ``created_at`` is older than the
cut-off the deleting transaction declared with ``SET LOCAL nexora.purge_before = '<timestamp>'``
(``nexora.common.models.append_only_purge`` does both). A session that declares nothing deletes
nothing, and even the purge cannot delete a row younger than the cut-off it declared. The ledger
keeps the strict trigger: no cut-off opens it.
"""

from __future__ import annotations

from typing import Any

REFUSE_CHANGE_FUNCTION = """
CREATE OR REPLACE FUNCTION nexora_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
"""


EXPIRABLE_FUNCTION = """
CREATE OR REPLACE FUNCTION nexora_refuse_change_unless_expired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND OLD.created_at < NULLIF(current_setting('nexora.purge_before', true), '')::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
"""


def _trigger_sql(table: str, function: str) -> tuple[str, str]:
    name = f"{table}_append_only"
    forward = (
        f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}();"
    )
    return forward, f"DROP TRIGGER IF EXISTS {name} ON {table};"


def append_only_expirable_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) SQL: append-only, but rows past the declared purge cut-off may be deleted."""
    return _trigger_sql(table, "nexora_refuse_change_unless_expired")


def append_only_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) SQL attaching the append-only trigger to ``table``."""
    return _trigger_sql(table, "nexora_refuse_change")


def run_on_postgres(*statements: str) -> Any:
    """A RunPython body that executes ``statements`` only on PostgreSQL."""

    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no %-interpolation of the DDL

    return run
