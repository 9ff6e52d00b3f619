"""The Procfile: the process types an operator expects, and commands that actually start.

``web`` is checked with gunicorn's own ``--check-config`` (it imports ``nexora.wsgi`` too), with the
same shell expansion of the defaults a Procfile runner does; ``worker`` and ``beat`` name the Celery
app, which is imported the way ``celery -A nexora`` imports it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def processes() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_process_types():
    assert set(processes()) == {"release", "web", "worker", "beat"}
    assert processes()["worker"].startswith("celery -A nexora worker --queues ${CELERY_QUEUES:-celery,chain}")
    assert processes()["beat"].startswith("celery -A nexora beat")


def test_the_web_process_configuration_is_valid():
    command = processes()["web"] + " --check-config"
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "nexora.settings",
    }
    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_celery_app_of_worker_and_beat_loads():
    from nexora.celery import app

    assert app.main == "nexora" and "privacy.retention_purge" in {
        t["task"] for t in app.conf.beat_schedule.values()
    }
    app.loader.import_default_modules()
    assert "privacy.retention_purge" in app.tasks and "payments.scan_network" in app.tasks
