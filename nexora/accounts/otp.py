"""Two-factor authentication with TOTP (django-otp): enrolment, verification, removal.

Who needs it: every staff user, before any staff page, staff API call or the admin works
(``nexora.accounts.middleware.TwoFactorMiddleware`` for sessions, ``HasStaffPermission`` for the
API); a client who turned it on, before any page of their session works. A password-authenticated
session is "verified" once a code from a confirmed device was accepted in it (django-otp keeps the
device id in the session; ``OTPMiddleware`` puts ``is_verified()`` on ``request.user``).

Enrolment is two steps: ``otp_setup_start`` creates an unconfirmed device with a fresh secret and
the setup page shows it as a QR code (segno, inline SVG: the secret never leaves the page as an
image request) and as text; ``otp_setup_confirm`` confirms the device with the first code from
the authenticator app, which also verifies the current session. Devices' secrets are never logged
and are hidden in the admin (``OTP_ADMIN_HIDE_SENSITIVE_DATA``).

Removal: a client removes their own second factor with a current code (``otp_disable``); staff
cannot (an admin deletes a lost device in the admin, and the staff member enrols again at the next
login). Every enrolment, removal, verification and failed code lands in the security log; removal
is logged by a ``post_delete`` receiver, so an admin's deletion is logged too.

Brute force: django-otp throttles each device (each failure doubles the wait before the next try).
"""

from __future__ import annotations

from typing import Any

import segno
from django.db import transaction
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp import login as otp_session_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from nexora.accounts.security import SecurityKind, security_event_log
from nexora.common.errors import Conflict, PermissionDenied, ValidationFailed

DEVICE_NAME = "authenticator"


def user_is_verified(user: Any) -> bool:
    """Whether this user object passed two-factor authentication in its session (or test helper)."""
    check = getattr(user, "is_verified", None)
    if callable(check):
        return bool(check())
    return getattr(user, "otp_device", None) is not None


def otp_enabled(user: Any) -> bool:
    return bool(getattr(user, "pk", None)) and user_has_device(user, confirmed=True)


def otp_needed(user: Any) -> str | None:
    """What an authenticated, unverified user must do first: ``"verify"``, ``"setup"`` or nothing."""
    if otp_enabled(user):
        return "verify"
    if user.is_staff:
        return "setup"
    return None


def _invalid_code() -> ValidationFailed:
    message = "The code is not valid. Enter the current 6-digit code from your authenticator app."
    return ValidationFailed(
        message, code="otp_invalid", fields={"token": [{"code": "otp_invalid", "message": message}]}
    )


@transaction.atomic
def otp_setup_start(*, user: Any) -> TOTPDevice:
    """The user's pending (unconfirmed) device, created with a new secret if there is none."""
    if otp_enabled(user):
        raise Conflict("Two-factor authentication is already on.", code="otp_already_enabled")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def otp_setup_confirm(*, user: Any, token: str, request: HttpRequest) -> TOTPDevice:
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        raise Conflict("Start the setup again.", code="otp_setup_missing")
    if not device.verify_token(token.strip()):
        raise _invalid_code()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    otp_session_login(request, device)
    security_event_log(user=user, kind=SecurityKind.OTP_ENROLLED, request=request, detail="totp")
    return device


def otp_verify(*, request: HttpRequest, token: str) -> TOTPDevice:
    """Check a code against the user's confirmed devices; on success the session is verified."""
    user = request.user
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(token.strip()):
            otp_session_login(request, device)
            security_event_log(user=user, kind=SecurityKind.OTP_VERIFIED, request=request)
            return device
    security_event_log(user=user, kind=SecurityKind.OTP_FAILED, request=request)
    raise _invalid_code()


@transaction.atomic
def otp_disable(*, user: Any, token: str, request: HttpRequest) -> None:
    """A client turns two-factor authentication off, proving it with a current code."""
    if user.is_staff:
        raise PermissionDenied(
            "Staff accounts must keep two-factor authentication.", code="otp_required_for_staff"
        )
    devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    if not any(d.verify_token(token.strip()) for d in devices):
        security_event_log(user=user, kind=SecurityKind.OTP_FAILED, request=request)
        raise _invalid_code()
    for device in devices:
        device.delete()  # one post_delete (and one security event) per device


def otp_qr_svg(device: TOTPDevice) -> SafeString:
    """The device's otpauth:// URI as an inline SVG QR code."""
    svg = segno.make(device.config_url, error="m").svg_inline(scale=5, border=2, dark="#15191f", light="#fff")
    return mark_safe(svg)  # noqa: S308 - segno's own SVG markup, no user input


def otp_secret_text(device: TOTPDevice) -> str:
    """The base32 secret, grouped by four, for typing into an app by hand."""
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def on_login_keep_device(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: a user object that already passed a device (an OTP-aware login
    form, a test's verified user) starts its session verified. django-otp's own receiver does the
    same only when ``request.user`` exists, which a test client's login request lacks."""
    device = getattr(user, "otp_device", None)
    if request is not None and device is not None and device.user_id == user.pk and device.confirmed:
        request.session[DEVICE_ID_SESSION_KEY] = device.persistent_id


def on_device_deleted(sender: Any, instance: TOTPDevice, **kwargs: Any) -> None:
    if instance.confirmed:
        security_event_log(user=instance.user, kind=SecurityKind.OTP_REMOVED, detail="totp")


def on_device_saved(sender: Any, instance: TOTPDevice, created: bool, **kwargs: Any) -> None:
    """A device created already confirmed (the admin, the demo) is an enrolment too."""
    if created and instance.confirmed:
        security_event_log(user=instance.user, kind=SecurityKind.OTP_ENROLLED, detail="totp")
