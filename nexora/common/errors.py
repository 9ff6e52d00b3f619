"""The one error hierarchy of Nexora.

Every failure a caller can act on is a ``NexoraError`` subclass with a stable snake_case ``code``,
an HTTP ``status`` and a human ``message``. Services raise these; the API layer maps them once
(``nexora.common.api.exception_handler``) to the envelope
``{"error": {"code", "message", "fields"}}``. Nothing else in the code base invents error shapes.
"""

from __future__ import annotations

from typing import Any


class NexoraError(Exception):
    """Base of every domain error. Subclasses set ``code``, ``status`` and a default message."""

    code: str = "error"
    status: int = 400
    default_message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.fields = fields or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class ValidationFailed(NexoraError):
    code = "invalid_input"
    status = 400
    default_message = "Some fields are invalid."


class NotAuthenticated(NexoraError):
    code = "not_authenticated"
    status = 401
    default_message = "Authentication credentials were not provided or are invalid."


class PermissionDenied(NexoraError):
    code = "permission_denied"
    status = 403
    default_message = "You do not have permission to perform this action."


class NotFound(NexoraError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(NexoraError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    default_message = "The available balance is too low for this operation."


class AccountFrozen(Conflict):
    code = "account_frozen"
    default_message = "The account is restricted; this operation is not possible right now."


class VerificationRequired(Conflict):
    """A top-up above what the client's verification (KYC) level allows. The message says what the
    client can do, and nothing about how the limit was computed."""

    code = "verification_required"
    default_message = (
        "This top-up is above what your account can receive before verification. Choose a smaller "
        "amount, or contact support to verify your account and raise the limit."
    )


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"
    default_message = "This idempotency key was already used with different parameters."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = "This status change is not allowed."


class StaleState(Conflict):
    code = "stale_state"
    default_message = "The object changed while the request was processed; retry."


class ServiceUnavailable(NexoraError):
    code = "service_unavailable"
    status = 503
    default_message = "A dependency is unavailable; retry later."
