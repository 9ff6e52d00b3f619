"""Account pages (namespace ``account``): security log, two-factor authentication, password."""

from django.urls import path

from nexora.accounts import views

app_name = "account"

urlpatterns = [
    path("account/security/", views.security_log, name="security"),
    path("account/2fa/", views.otp_manage, name="otp"),
    path("account/2fa/setup/", views.otp_setup, name="otp-setup"),
    path("account/2fa/verify/", views.otp_verify_view, name="otp-verify"),
    path("account/password/", views.NexoraPasswordChangeView.as_view(), name="password"),
]
