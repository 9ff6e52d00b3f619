"""The security log is append-only: PostgreSQL refuses UPDATE, and DELETE except past the purge's cut-off."""

from django.db import migrations

from nexora.common.sql import EXPIRABLE_FUNCTION, append_only_expirable_sql, run_on_postgres

forward, reverse = append_only_expirable_sql("accounts_securityevent")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_security_log_and_closure")]

    operations = [
        migrations.RunPython(run_on_postgres(EXPIRABLE_FUNCTION, forward), run_on_postgres(reverse)),
    ]
