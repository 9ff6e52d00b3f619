"""History is enforced by PostgreSQL: imports are append-only; listings and deny-list entries are
never deleted and can only be closed once (see ``aml/sanctions/sql.py``)."""

from django.db import migrations

from aml.sanctions.sql import DROP_GUARD_FUNCTION, GUARD_FUNCTION, guard_sql
from nexora.common.sql import append_only_sql, run_on_postgres

import_fwd, import_rev = append_only_sql("sanctions_sanctionsimport")
listing_fwd, listing_rev = guard_sql(
    "sanctions_sanctionedaddress",
    "active",
    ("status", "delisted_by_import_id", "delisted_at", "entity_name", "programs", "listed_on"),
)
deny_fwd, deny_rev = guard_sql(
    "sanctions_denylistentry", "active", ("status", "removed_by_id", "removed_at", "removal_reason")
)


class Migration(migrations.Migration):
    dependencies = [("sanctions", "0001_initial"), ("common", "0002_statuschange_append_only")]

    operations = [
        migrations.RunPython(
            run_on_postgres(GUARD_FUNCTION, import_fwd, listing_fwd, deny_fwd),
            run_on_postgres(import_rev, listing_rev, deny_rev, DROP_GUARD_FUNCTION),
        ),
    ]
