"""Codes for TOTP devices in tests, computed exactly as an authenticator app would."""

from __future__ import annotations

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The device's code now (or ``steps_ahead`` time steps later: a code is accepted once, and the
    device tolerates one step of clock drift, so a second login in the same step uses the next)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"
