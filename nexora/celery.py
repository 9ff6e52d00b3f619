"""The Celery application.

Configuration comes from Django settings (``CELERY_*``). Without ``REDIS_URL`` the settings make
every task run eagerly in-process, so the embedded demo needs no broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nexora.settings")

app = Celery("nexora")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
