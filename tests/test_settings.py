"""Settings profiles: the production profile refuses to start without its required variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.DEBUG, settings.DATABASES['default']['ENGINE'])"
)


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "PYTEST_VERSION", "NEXORA_ENV", "DEBUG"}
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "nexora.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_names_the_missing_variable(missing):
    env = {
        "NEXORA_ENV": "production",
        "SECRET_KEY": "s" * 50,
        "ALLOWED_HOSTS": "pay.example.com",
        "DATABASE_URL": "postgres://u@db/nexora",
    }
    del env[missing]
    result = _run(env)
    assert result.returncode != 0
    assert f"{missing} must be set when NEXORA_ENV=production" in result.stderr


def test_production_starts_with_its_variables_and_debug_off():
    result = _run(
        {
            "NEXORA_ENV": "production",
            "SECRET_KEY": "s" * 50,
            "ALLOWED_HOSTS": "pay.example.com",
            "DATABASE_URL": "postgres://u@db/nexora",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "django.db.backends.postgresql"]


def test_dev_profile_defaults_to_sqlite_and_debug():
    result = _run({})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3"]
