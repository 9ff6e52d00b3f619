"""The authentication backend: Django's ``ModelBackend`` behind the staff lockout.

A locked account (``nexora.accounts.security.login_locked``) is refused before its password is
even checked, by raising ``PermissionDenied``: Django's ``authenticate()`` then stops asking other
backends and sends ``user_login_failed``. The request is marked so that receiver logs the attempt
as ``login_locked`` rather than as another failure (which would keep extending the lockout).
Every login path (the client area's form, the admin's, DRF's session login) goes through here.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from nexora.accounts.security import login_locked, user_by_username


class LockoutModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username and login_locked(user_by_username(username)):
            if request is not None:
                request.nexora_login_locked = True  # type: ignore[attr-defined]
            raise PermissionDenied("account locked")
        return super().authenticate(request, username=username, password=password, **kwargs)
