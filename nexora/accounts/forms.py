"""Forms of the account pages: login (lockout-aware) and a two-factor code."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from nexora.accounts.security import login_locked, user_by_username


class LoginForm(AuthenticationForm):
    """Django's login form; a locked staff account gets its own message instead of "wrong password"."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("Too many failed attempts. This account is locked for a while; try again later."),
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            if login_locked(user_by_username(self.cleaned_data.get("username", ""))):
                raise ValidationError(self.error_messages["locked"], code="locked") from None
            raise


class OtpTokenForm(forms.Form):
    token = forms.RegexField(
        regex=r"^\s*\d{6,8}\s*$",
        label=_("Code"),
        error_messages={"invalid": _("Enter the 6-digit code from your authenticator app.")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
