"""Seed rule set version 1: published, system-authored (no author, no publisher), the defaults."""

from django.db import migrations


def seed(apps, schema_editor):
    from aml.rulesets import ruleset_seed_default

    ruleset_seed_default(apps.get_model("aml", "RuleSet"))


class Migration(migrations.Migration):
    dependencies = [("aml", "0002_engine")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
