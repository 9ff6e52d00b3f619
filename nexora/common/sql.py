"""PostgreSQL DDL shared by migrations: the append-only trigger.

``nexora_refuse_change()`` raises on UPDATE or DELETE with SQLSTATE 23001 (restrict_violation),
which Django surfaces as ``IntegrityError``. Attach it with ``append_only_sql(table)``. On other
databases (the SQLite demo) the model layer's guard is the only one; CI runs on PostgreSQL.
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


def append_only_sql(table: str) -> tuple[str, str]:
    """(forward, reverse) SQL attaching the append-only trigger to ``table``."""
    name = f"{table}_append_only"
    forward = (
        f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION nexora_refuse_change();"
    )
    return forward, f"DROP TRIGGER IF EXISTS {name} ON {table};"


def run_on_postgres(*statements: str) -> Any:
    """A RunPython body that executes ``statements`` only on PostgreSQL."""

    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no %-interpolation of the DDL

    return run
