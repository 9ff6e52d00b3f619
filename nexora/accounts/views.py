"""Account pages for every logged-in user: login, two-factor setup and verification, the
security log, password change.

Views only parse, call one service from ``nexora.accounts.otp`` / ``security`` and render. Service
errors carry English API messages; the pages show the translated text for the error's code
(``ERROR_TEXTS``). ``next`` is followed only when it points at this site.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, PasswordChangeView
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from nexora.accounts.forms import LoginForm, OtpTokenForm
from nexora.accounts.otp import (
    otp_disable,
    otp_enabled,
    otp_qr_svg,
    otp_secret_text,
    otp_setup_confirm,
    otp_setup_start,
    otp_verify,
    user_is_verified,
)
from nexora.accounts.security import SecurityKind, security_events_for
from nexora.common.errors import NexoraError

EVENTS_PER_PAGE = 30
ERROR_TEXTS = {
    "otp_invalid": _("The code is not valid. Enter the current 6-digit code from your authenticator app."),
    "otp_setup_missing": _("The setup expired. Scan the new code and try again."),
    "otp_required_for_staff": _("Staff accounts must keep two-factor authentication."),
}
KIND_LABELS = {
    SecurityKind.LOGIN_SUCCEEDED: _("Logged in"),
    SecurityKind.LOGIN_FAILED: _("Failed login attempt"),
    SecurityKind.LOGIN_LOCKED: _("Login refused: account locked"),
    SecurityKind.LOCKOUT: _("Account locked after failed attempts"),
    SecurityKind.LOCKOUT_CLEARED: _("Account unlocked"),
    SecurityKind.LOGOUT: _("Logged out"),
    SecurityKind.SESSION_EXPIRED: _("Session timed out"),
    SecurityKind.PASSWORD_CHANGED: _("Password changed"),
    SecurityKind.OTP_ENROLLED: _("Two-factor authentication turned on"),
    SecurityKind.OTP_REMOVED: _("Two-factor authentication turned off"),
    SecurityKind.OTP_VERIFIED: _("Two-factor code accepted"),
    SecurityKind.OTP_FAILED: _("Wrong two-factor code"),
    SecurityKind.PROFILE_CHANGED: _("Profile changed"),
    SecurityKind.DATA_EXPORTED: _("Copy of your data downloaded"),
    SecurityKind.ERASURE_REQUESTED: _("Erasure requested"),
    SecurityKind.STAFF_ACTION: _("Staff action"),
}


def error_text(exc: NexoraError) -> str:
    return str(ERROR_TEXTS.get(exc.code, exc.message))


def next_url(request: HttpRequest, default: str = "/") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


class NexoraLoginView(LoginView):
    form_class = LoginForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        context["locked"] = form.is_bound and form.has_error(NON_FIELD_ERRORS, "locked")
        return context


class NexoraPasswordChangeView(PasswordChangeView):
    """Django's view (it keeps the session valid); ``User.save`` logs the change."""

    template_name = "account/password_change.html"
    success_url = reverse_lazy("account:security")

    def form_valid(self, form: Any) -> HttpResponse:
        messages.success(self.request, _("Your password was changed."))
        return super().form_valid(form)


def _code_submitted(request: HttpRequest, action: Callable[[str], object]) -> tuple[OtpTokenForm, bool]:
    """The code form of a two-factor page; on a valid POST, ``action(code)``. (form, succeeded)"""
    form = OtpTokenForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return form, False
    try:
        action(form.cleaned_data["token"])
    except NexoraError as exc:
        form.add_error("token", error_text(exc))
        return form, False
    return form, True


def _status(request: HttpRequest) -> int:
    return 400 if request.method == "POST" else 200  # a POST that rendered the page again failed


@login_required
@require_http_methods(["GET", "POST"])
def otp_setup(request: HttpRequest) -> HttpResponse:
    target = next_url(request, reverse("account:otp"))
    if otp_enabled(request.user):
        return redirect(target)
    device = otp_setup_start(user=request.user)
    form, done = _code_submitted(
        request, lambda code: otp_setup_confirm(user=request.user, token=code, request=request)
    )
    if done:
        messages.success(request, _("Two-factor authentication is on."))
        return redirect(target)
    context = {"form": form, "qr": otp_qr_svg(device), "secret": otp_secret_text(device), "next": target}
    return render(request, "account/otp_setup.html", context, status=_status(request))


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify_view(request: HttpRequest) -> HttpResponse:
    target = next_url(request)
    if user_is_verified(request.user) or not otp_enabled(request.user):
        return redirect(target)
    form, done = _code_submitted(request, lambda code: otp_verify(request=request, token=code))
    if done:
        return redirect(target)
    return render(request, "account/otp_verify.html", {"form": form, "next": target}, status=_status(request))


@login_required
@require_http_methods(["GET", "POST"])
def otp_manage(request: HttpRequest) -> HttpResponse:
    """Status of the second factor; a client can turn it off here with a current code."""
    form, done = _code_submitted(
        request, lambda code: otp_disable(user=request.user, token=code, request=request)
    )
    if done:
        messages.success(request, _("Two-factor authentication is off."))
        return redirect("account:otp")
    context = {"enabled": otp_enabled(request.user), "form": form}
    return render(request, "account/otp_manage.html", context, status=_status(request))


@login_required
def security_log(request: HttpRequest) -> HttpResponse:
    page = Paginator(security_events_for(user=request.user), EVENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [{"event": e, "label": KIND_LABELS.get(e.kind, e.kind)} for e in page]
    return render(request, "account/security_log.html", {"page": page, "rows": rows})
