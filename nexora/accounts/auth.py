"""API-key authentication for the operator's billing system (service to service).

The key travels as ``Authorization: Api-Key <key>``. We look it up by its SHA-256, so the database
never holds a usable credential. A key authenticates a ``ServicePrincipal`` (not a user): it can
never pass a client or staff permission check by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from nexora.accounts.models import ApiKey, api_key_hash

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class ServicePrincipal:
    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    is_active: bool = True

    @property
    def pk(self) -> None:
        return None

    def __str__(self) -> str:
        return f"service:{self.api_key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ServicePrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != KEYWORD:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Api-Key header.")
        key = ApiKey.objects.filter(key_hash=api_key_hash(header[1]), revoked_at__isnull=True).first()
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ServicePrincipal(api_key=key), key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
