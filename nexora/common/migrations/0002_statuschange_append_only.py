"""StatusChange rows are an audit trail: PostgreSQL refuses UPDATE and DELETE on them."""

from django.db import migrations

from nexora.common.sql import REFUSE_CHANGE_FUNCTION, append_only_sql, run_on_postgres

forward, reverse = append_only_sql("common_statuschange")


class Migration(migrations.Migration):
    dependencies = [("common", "0001_initial")]

    operations = [
        migrations.RunPython(run_on_postgres(REFUSE_CHANGE_FUNCTION, forward), run_on_postgres(reverse)),
    ]
