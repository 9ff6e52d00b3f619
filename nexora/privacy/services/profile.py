"""The client corrects their profile (right to rectification): e-mail, name, language.

A new e-mail address is first offered to the screeners (``screen("account_changed",
AccountChanged(...))`` from ``payments.hooks``): ``REFUSE`` refuses the whole change with a neutral
``change_refused`` (no reason: invariant 8); ``REVIEW`` lets it through (the AML app opens a case on
its side). The security log records which fields changed, never their values.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from nexora.accounts.models import ClientProfile
from nexora.accounts.security import SecurityKind, security_event_log
from nexora.common.errors import PermissionDenied, ValidationFailed
from payments.hooks import AccountChanged, Verdict, screen

NAME_MAX = 150


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [{"code": code, "message": message}]})


def _clean(email: str, first_name: str, last_name: str, language: str) -> tuple[str, str, str, str]:
    email, first_name, last_name = email.strip(), first_name.strip(), last_name.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise _invalid("email", "invalid_email", "Enter a valid e-mail address.") from None
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > NAME_MAX:
            raise _invalid(field, "too_long", f"At most {NAME_MAX} characters.")
    if language not in dict(settings.LANGUAGES):
        raise _invalid("language", "unknown_language", "Choose English, Russian or Ukrainian.")
    return email, first_name, last_name, language


@transaction.atomic
def client_profile_update(
    *, profile: ClientProfile, email: str, first_name: str, last_name: str, language: str, request: Any = None
) -> ClientProfile:
    email, first_name, last_name, language = _clean(email, first_name, last_name, language)
    user = profile.user
    if email.lower() != user.email.lower() and email:
        verdict = screen(
            "account_changed", AccountChanged(client_id=profile.pk, field="email", new_value=email)
        )
        if verdict == Verdict.REFUSE:
            raise PermissionDenied("This change cannot be made right now.", code="change_refused")
    changed = [
        name
        for name, old, new in (
            ("email", user.email, email),
            ("first_name", user.first_name, first_name),
            ("last_name", user.last_name, last_name),
            ("language", profile.language, language),
        )
        if old != new
    ]
    if not changed:
        return profile
    user.email, user.first_name, user.last_name = email, first_name, last_name
    user.save(update_fields=["email", "first_name", "last_name"])
    profile.language = language
    profile.save(update_fields=["language", "updated_at"])
    security_event_log(
        user=user, kind=SecurityKind.PROFILE_CHANGED, request=request, detail=", ".join(changed)
    )
    return profile
