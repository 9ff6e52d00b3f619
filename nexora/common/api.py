"""API conventions shared by every endpoint: the error envelope, pagination, money fields, and the
OpenAPI security schemes (each operation lists the one credential that can pass it: a user's token
or session, or the billing system's ``Api-Key``).

``exception_handler`` is the one place where errors become HTTP responses. Domain errors
(``NexoraError``) keep their code; DRF's own exceptions are mapped to stable codes; validation
errors list per-field ``{"code", "message"}`` items. Unexpected exceptions are not caught here: they
are bugs and should surface as 500s in logs, not be dressed up as client errors.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular import authentication as spectacular_auth
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from nexora.common.errors import NexoraError

_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "authentication_failed",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
}


def _field_errors(detail: Any) -> dict[str, Any]:
    """DRF's nested ErrorDetail structure → ``{field: [{"code", "message"}]}``."""
    if isinstance(detail, dict):
        return {str(k): _field_errors_list(v) for k, v in detail.items()}
    return {"non_field_errors": _field_errors_list(detail)}


def _field_errors_list(value: Any) -> Any:
    if isinstance(value, dict):
        return _field_errors(value)
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for item in items:
        if isinstance(item, (dict, list)):
            out.append(_field_errors_list(item))
        else:
            out.append({"code": getattr(item, "code", "invalid"), "message": str(item)})
    return out


def _envelope(code: str, message: str, status: int, fields: dict[str, Any] | None = None) -> Response:
    return Response({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NexoraError):
        return _envelope(exc.code, exc.message, exc.status, exc.fields)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        return _envelope("invalid_input", "Some fields are invalid.", 400, _field_errors(exc.detail))
    if isinstance(exc, drf.APIException):
        code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), "error")
        response = _envelope(code, str(exc.detail), exc.status_code)
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        return response
    return None


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_field({"type": "string", "example": "12.50"})
class MoneyField(serializers.Field):
    """A fiat amount as a decimal string. It keeps the raw text: the serializer's ``validate`` parses
    it with ``money_parse`` once the currency (and so the quantum) is known."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, (bool, float)) or not isinstance(data, (str, int)):
            raise serializers.ValidationError(
                'Send the amount as a decimal string, e.g. "12.50".', code="invalid_amount"
            )
        return str(data)

    def to_representation(self, value: Decimal) -> str:
        return str(value)


class ErrorBodySerializer(serializers.Serializer):
    """Schema of the error body. Built in get_fields() because a class attribute named ``fields``
    would shadow ``Serializer.fields``."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "code": serializers.CharField(help_text="Stable snake_case error code."),
            "message": serializers.CharField(help_text="Human-readable explanation."),
            "fields": serializers.DictField(help_text="Per-field errors: {field: [{code, message}]}."),
        }


class ErrorEnvelopeSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def error_responses(*statuses: int) -> dict[int, Any]:
    """OpenAPI responses for the error statuses an endpoint can answer."""
    return {status: ErrorEnvelopeSerializer for status in statuses}


# --- OpenAPI security schemes --------------------------------------------------------------------
# A service API key only ever passes ``HasApiScope`` (views that set ``required_scope``) and a user
# never does, so each operation lists the one kind of credential that can succeed on it.


def _is_service_view(auto_schema: Any) -> bool:
    return getattr(auto_schema.view, "required_scope", None) is not None


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "nexora.accounts.auth.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        from nexora.accounts.auth import KEYWORD

        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix=KEYWORD)

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{self.name: []}] if _is_service_view(auto_schema) else []


class UserTokenScheme(spectacular_auth.TokenScheme):
    priority = 0  # above drf-spectacular's own (-1)

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [] if _is_service_view(auto_schema) else [{self.name: []}]


class UserSessionScheme(spectacular_auth.SessionScheme):
    priority = 0

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [] if _is_service_view(auto_schema) else [{self.name: []}]
