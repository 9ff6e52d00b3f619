"""DRF permission classes: who may call an endpoint. Object scoping lives in selectors.

Staff endpoints also need two-factor authentication: the staff member's session must have passed
it (``nexora.accounts.otp``). A DRF token carries no such proof, so a token never opens a staff
endpoint (``403 otp_required``); staff use the API from a verified session.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from nexora.accounts.models import ApiKey, ClientProfile
from nexora.accounts.otp import user_is_verified
from nexora.common.errors import PermissionDenied


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
        allowed = bool(
            perm and getattr(user, "is_authenticated", False) and user.is_staff and user.has_perm(perm)
        )
        if allowed and not user_is_verified(user):
            raise PermissionDenied(
                "Staff endpoints need a session that passed two-factor authentication.", code="otp_required"
            )
        return allowed
