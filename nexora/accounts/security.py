"""The security log and the staff login lockout.

``security_event_log(*, user, kind, request=None, detail="")`` is the one writer of
``SecurityEvent``. Everything else calls it: Django's auth signals (login, failed login, logout;
connected in ``AccountsConfig.ready``), ``User.save`` (password changes), the two-factor services,
the privacy services, and any app that records a staff action
(``security_event_log(user=staff, kind=SecurityKind.STAFF_ACTION, request=request,
detail="released case 12")``). Without an explicit ``request`` it uses the request being served, if
any (``nexora.common.logs.current_request``), so the IP and user agent are filled in wherever the
call comes from.

What is kept (operator's policy, section 3 "technical data"; minimisation): the kind, the user,
for a failed login the username typed (never the password: Django's ``user_login_failed`` hands
receivers cleansed credentials, and we read only the username), the client's IP and the start of
its user agent, and a short detail that must not contain personal data beyond ids. The IP is taken
from ``REMOTE_ADDR``, or, behind ``NEXORA_TRUSTED_PROXY_COUNT`` reverse proxies, from the entry
those proxies appended to ``X-Forwarded-For`` (the entries further left are the client's say-so).

Lockout (staff only: clients cannot be locked out by someone who merely knows their username):
``NEXORA_LOCKOUT_FAILURES`` failed logins of a staff account within ``NEXORA_LOCKOUT_WINDOW_S``,
counted since its last successful login or the last time an admin cleared the lockout, lock the
account until the window has passed; even the right password is refused meanwhile. The counts come
from the security log itself, so every web process on every machine sees the same lockout.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from nexora.accounts.models import SecurityEvent, User
from nexora.common.logs import current_request

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,39}$")
USER_AGENT_MAX = 300


class SecurityKind:
    """The kinds Nexora writes. Other apps may add their own snake_case kinds."""

    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"  # an attempt refused because the account is locked
    LOCKOUT = "lockout"  # the failure that locked the account
    LOCKOUT_CLEARED = "lockout_cleared"
    LOGOUT = "logout"
    SESSION_EXPIRED = "session_expired"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name, not a password
    OTP_ENROLLED = "otp_enrolled"
    OTP_REMOVED = "otp_removed"
    OTP_VERIFIED = "otp_verified"
    OTP_FAILED = "otp_failed"
    PROFILE_CHANGED = "profile_changed"
    DATA_EXPORTED = "data_exported"
    ERASURE_REQUESTED = "erasure_requested"
    STAFF_ACTION = "staff_action"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the trusted proxies saw it; ``None`` if it is not an IP."""
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NEXORA_TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def security_event_log(
    *, user: Any, kind: str, request: HttpRequest | None = None, detail: str = "", username: str = ""
) -> SecurityEvent:
    """Append one event. ``user`` may be ``None`` (a failed login for an unknown username)."""
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"security event kind must be snake_case, 3-40 characters: {kind!r}")
    request = request if request is not None else current_request.get()
    return SecurityEvent.objects.create(
        user=user if getattr(user, "pk", None) else None,
        kind=kind,
        username=username[:150],
        ip=client_ip(request) if request is not None else None,
        user_agent=(request.headers.get("User-Agent", "") if request is not None else "")[:USER_AGENT_MAX],
        detail=detail[:500],
    )


def security_events_for(*, user: Any) -> Any:
    """A user's own log, newest first (what the client area shows)."""
    return SecurityEvent.objects.filter(user=user).order_by("-created_at", "-id")


# --- lockout -------------------------------------------------------------------------------------


def _failures_since_reset(user: User) -> int:
    window_start = timezone.now() - timedelta(seconds=settings.NEXORA_LOCKOUT_WINDOW_S)
    reset = SecurityEvent.objects.filter(
        user=user, kind__in=[SecurityKind.LOGIN_SUCCEEDED, SecurityKind.LOCKOUT_CLEARED]
    ).aggregate(at=Max("created_at"))["at"]
    since = max(window_start, reset) if reset else window_start
    return SecurityEvent.objects.filter(
        user=user, kind=SecurityKind.LOGIN_FAILED, created_at__gt=since
    ).count()


def login_locked(user: User | None) -> bool:
    """Whether this account's logins are refused right now."""
    if user is None or not user.is_staff:
        return False
    return _failures_since_reset(user) >= settings.NEXORA_LOCKOUT_FAILURES


def lockout_clear(*, user: User, actor: Any, request: HttpRequest | None = None) -> SecurityEvent:
    """An admin unlocks a staff account before its window has passed."""
    security_event_log(
        user=actor,
        kind=SecurityKind.STAFF_ACTION,
        request=request,
        detail=f"cleared lockout of user {user.pk}",
    )
    return security_event_log(user=user, kind=SecurityKind.LOCKOUT_CLEARED, request=request)


def user_by_username(username: str) -> User | None:
    return User.objects.filter(username=username).first() if username else None


# --- Django auth signal receivers ----------------------------------------------------------------


def on_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    security_event_log(user=user, kind=SecurityKind.LOGIN_SUCCEEDED, request=request)


def on_logout(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        security_event_log(user=user, kind=SecurityKind.LOGOUT, request=request)


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    user = user_by_username(username)
    if request is not None and getattr(request, "nexora_login_locked", False):
        security_event_log(user=user, kind=SecurityKind.LOGIN_LOCKED, request=request, username=username)
        return
    security_event_log(user=user, kind=SecurityKind.LOGIN_FAILED, request=request, username=username)
    if user is not None and user.is_staff and _failures_since_reset(user) == settings.NEXORA_LOCKOUT_FAILURES:
        security_event_log(user=user, kind=SecurityKind.LOCKOUT, request=request, username=username)
