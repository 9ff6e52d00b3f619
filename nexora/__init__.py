"""Nexora: crypto top-ups and AML screening for a hosting company's client balances."""

from nexora.celery import app as celery_app

__all__ = ["celery_app"]
