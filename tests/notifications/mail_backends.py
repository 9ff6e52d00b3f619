"""E-mail backends for the failure paths: a server that is down, and one that refuses the address."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend

attempts: list[str] = []


class DownBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        attempts.extend(m.to[0] for m in email_messages)
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        attempts.extend(m.to[0] for m in email_messages)
        raise smtplib.SMTPRecipientsRefused({m.to[0]: (550, b"No such user") for m in email_messages})
