""".env.example: copied to ``.env`` as it is, it must change nothing, and it documents only real variables.

``nexora/settings.py`` reads ``.env`` with django-environ, which sets each ``NAME=value`` line in the
environment unless the variable is already there; an empty value is still a value (``DEBUG=`` is
"off", ``SECRET_KEY=`` is an empty key). So the check runs the settings twice in a subprocess, with
nothing set and with the file's active lines set, and compares every upper-case setting.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACTIVE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
COMMENTED = re.compile(r"^#\s?([A-Z][A-Z0-9_]*)=")
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in dir(s) if k.isupper()}, default=repr, sort_keys=True))"
)
# Variables the test runner's own environment may carry (services, profile): the dev defaults are compared.
SCRUBBED = {"PYTEST_VERSION", "NEXORA_ENV", "DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"}


def example_lines() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


def active_variables() -> dict[str, str]:
    return {m.group(1): m.group(2) for line in example_lines() if (m := ACTIVE.match(line.strip()))}


def named_variables() -> set[str]:
    names = set(active_variables())
    names |= {m.group(1) for line in example_lines() if (m := COMMENTED.match(line.strip()))}
    return names


def settings_with(extra: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "nexora.settings", **extra},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_copying_the_example_to_dot_env_changes_no_setting():
    assert settings_with(active_variables()) == settings_with({})


def test_every_variable_of_the_example_is_documented():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    undocumented = sorted(name for name in named_variables() if f"`{name}`" not in reference)
    assert len(named_variables()) > 60  # the parser found the file's variables
    assert undocumented == []


def test_every_variable_of_the_example_is_read_by_the_settings():
    source = (ROOT / "nexora" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', source)) | {"PROMETHEUS_MULTIPROC_DIR"}
    assert sorted(named_variables() - read) == []
