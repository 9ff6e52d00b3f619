"""Settings of issue 7: retention periods per jurisdiction and overrides, chain queues, log format."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.test_settings import ROOT


def probe(expression: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    base = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "NEXORA_ENV"}}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "nexora.settings", "NEXORA_ENV": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_retention_defaults_are_the_operators_policy():
    result = probe("sorted(settings.NEXORA_RETENTION_MONTHS.items())")
    assert result.stdout.strip() == (
        "[('account', 36), ('aml', 60), ('financial', 60), ('security_log', 12), ('technical_log', 12)]"
    )


def test_a_period_can_be_overridden_from_the_environment():
    result = probe("settings.NEXORA_RETENTION_MONTHS['financial'], settings.NEXORA_RETENTION_MONTHS['aml']",
                   NEXORA_RETENTION_MONTHS="financial=84")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "84 60"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NEXORA_JURISDICTION", "xx", "has no retention row"),
        ("NEXORA_CHAIN_QUEUES", "one-per-network", "must be shared or per_family"),
        ("LOG_FORMAT", "xml", "must be json or text"),
    ],
)
def test_unknown_values_refuse_to_start(variable, value, message):
    result = probe("1", **{variable: value})
    assert result.returncode != 0 and message in result.stderr


def test_per_family_chain_queues_install_the_router():
    result = probe("settings.CELERY_TASK_ROUTES", NEXORA_CHAIN_QUEUES="per_family")
    assert result.stdout.strip() == "['nexora.common.queues.chain_queue_per_family']"
    assert probe("settings.CELERY_TASK_ROUTES").stdout.strip().startswith("{'payments.scan_network'")
