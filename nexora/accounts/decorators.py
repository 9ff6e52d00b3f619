"""View decorators for server-rendered pages: who may open a page.

* ``client_required``: logged in, and a client (staff have no client area); the view receives the
  client's profile as its second argument.
* ``staff_permission_required(perm)``: logged in staff holding ``perm`` through their role.

Anonymous visitors are sent to the login page; everyone else who does not qualify gets 403.
Two-factor authentication for staff is enforced before any view runs
(``nexora.accounts.middleware.TwoFactorMiddleware``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from nexora.accounts.models import ClientProfile

View = Callable[..., HttpResponse]


def client_required(view: View) -> View:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        profile = getattr(request.user, "client_profile", None)
        if not isinstance(profile, ClientProfile):
            raise PermissionDenied
        return view(request, profile, *args, **kwargs)

    return login_required(wrapped)


def staff_permission_required(perm: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not (request.user.is_staff and request.user.has_perm(perm)):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator
