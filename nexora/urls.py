"""Top-level routes: the client area (with the review page), the treasury, the API (v1), its schema and
docs, and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from nexora.common import views as common_views

urlpatterns = [
    path("", common_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("payments.urls")),
    path("review/", include("aml.cases.urls")),
    path("treasury/", include("payments.treasury_urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("payments.api.urls")),
    # notifications: client pages, the Telegram webhook, the API
    path("", include("aml.notifications.urls")),
    path("api/v1/", include("aml.notifications.api.urls")),
]

handler404 = "nexora.common.views.not_found"
