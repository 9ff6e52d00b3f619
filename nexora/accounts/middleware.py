"""Session guards that run after authentication: the staff session timeout and two-factor enforcement.

``StaffSessionMiddleware``: a staff session ends after ``NEXORA_STAFF_SESSION_IDLE_S`` without a
request, and in any case ``NEXORA_STAFF_SESSION_MAX_S`` after login. The times live in the session
(set at login, refreshed at most once a minute so an active session is not written on every
request); the session cookie's own expiry follows the idle timeout. An expired session is flushed
and logged (``session_expired``); a page asks to log in again, an API call gets
``401 session_expired``. Clients keep Django's normal session lifetime.

``TwoFactorMiddleware``: an authenticated session that has not passed two-factor authentication
reaches nothing but the two-factor pages, logout and static files when the user must use it (every
staff user; a client who turned it on). Pages redirect to the setup page (no device yet) or the
verification page, with ``next``; ``/api/`` answers ``403 otp_required``. Token-authenticated API
calls never pass through here with a user (DRF authenticates them later), so ``HasStaffPermission``
applies the same rule to the staff API.

Both return at once for a request without a session cookie (API clients with tokens or keys, the
billing system): without the cookie there is no logged-in user to check, and the lazy user object
is not even built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from nexora.accounts.otp import otp_needed, user_is_verified
from nexora.accounts.security import SecurityKind, security_event_log

SESSION_STARTED, SESSION_SEEN = "nexora_staff_started", "nexora_staff_seen"
TOUCH_EVERY_S = 60
Handler = Callable[[HttpRequest], HttpResponse]


def _has_session(request: HttpRequest) -> bool:
    return settings.SESSION_COOKIE_NAME in request.COOKIES


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


def _login_again(request: HttpRequest, next_path: str) -> HttpResponse:
    return redirect(f"{reverse('login')}?next={quote(next_path)}")


def staff_session_start(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: the clock of a staff session starts at login."""
    if request is not None and getattr(user, "is_staff", False) and hasattr(request, "session"):
        now = time.time()
        request.session[SESSION_STARTED] = request.session[SESSION_SEEN] = now
        request.session.set_expiry(settings.NEXORA_STAFF_SESSION_IDLE_S)


def staff_session_expired(request: HttpRequest) -> bool:
    """Whether the staff session is past a timeout; refreshes its last-seen time otherwise."""
    session, now = request.session, time.time()
    started = session.get(SESSION_STARTED)
    seen = session.get(SESSION_SEEN, started)
    if started is None or seen is None:  # a session from before this guard: start its clock now
        staff_session_start(None, request, request.user)
        return False
    if (
        now - seen > settings.NEXORA_STAFF_SESSION_IDLE_S
        or now - started > settings.NEXORA_STAFF_SESSION_MAX_S
    ):
        return True
    if now - seen >= TOUCH_EVERY_S:
        session[SESSION_SEEN] = now
        session.set_expiry(settings.NEXORA_STAFF_SESSION_IDLE_S)
    return False


class StaffSessionMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _has_session(request):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated and user.is_staff and staff_session_expired(request):
            security_event_log(user=user, kind=SecurityKind.SESSION_EXPIRED, request=request)
            request.session.flush()
            request.user = AnonymousUser()
            if request.path.startswith("/api/"):
                return _error("session_expired", "Your session has timed out; log in again.", 401)
            messages.info(request, _("Your session timed out. Please log in again."))
            return _login_again(request, request.get_full_path())
        return self.get_response(request)


def _exempt(path: str) -> bool:
    open_paths = (
        reverse("account:otp-setup"),
        reverse("account:otp-verify"),
        reverse("logout"),
        reverse("admin:logout"),
        reverse("set_language"),
        f"/{settings.STATIC_URL.lstrip('/')}",
    )
    return path.startswith(open_paths)


class TwoFactorMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _has_session(request):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated and not user_is_verified(user) and not _exempt(request.path):
            step = otp_needed(user)
            if step is not None:
                return self._refuse(request, step)
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, step: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return _error("otp_required", "Complete two-factor authentication in this session first.", 403)
        target = reverse("account:otp-setup" if step == "setup" else "account:otp-verify")
        return redirect(f"{target}?next={quote(request.get_full_path())}")
