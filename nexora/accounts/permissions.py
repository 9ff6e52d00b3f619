"""DRF permission classes: who may call an endpoint. Object scoping lives in selectors."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from nexora.accounts.models import ApiKey, ClientProfile


def request_client(request: Request) -> ClientProfile:
    """The client profile of a request that passed ``IsClient``."""
    profile = getattr(request.user, "client_profile", None)
    assert isinstance(profile, ClientProfile), "view must use the IsClient permission"
    return profile


def request_api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


class IsClient(BasePermission):
    """A logged-in client (session or token). Staff and service keys are not clients."""

    message = "This endpoint is for client accounts."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(getattr(user, "is_authenticated", False) and hasattr(user, "client_profile"))


class HasApiScope(BasePermission):
    """A service API key carrying the view's ``required_scope``."""

    message = "This endpoint needs a service API key with the right scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "required_scope", None)
        return isinstance(request.auth, ApiKey) and scope is not None and request.auth.has_scope(scope)


class HasStaffPermission(BasePermission):
    """Staff holding the view's ``required_permission`` (via their role group)."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        perm = getattr(view, "required_permission", None)
        return bool(
            perm and getattr(user, "is_authenticated", False) and user.is_staff and user.has_perm(perm)
        )
