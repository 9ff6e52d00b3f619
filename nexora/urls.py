"""Top-level routes: the client area (with the review page), the treasury, the API (v1), its schema and
docs, the admin and /metrics.

``/healthz`` and ``/readyz`` are not here: ``nexora.common.health.HealthMiddleware`` answers them
before host checks and sessions (see that module).
"""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from nexora.accounts.views import NexoraLoginView
from nexora.common import views as common_views
from nexora.common.metrics import metrics_view

urlpatterns = [
    path("", common_views.home, name="home"),
    path("accounts/login/", NexoraLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("payments.urls")),
    path("review/", include("aml.cases.urls")),
    path("treasury/", include("payments.treasury_urls")),
    path("staff/", include("aml.cases.staff_urls")),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("payments.api.urls")),
    path("api/v1/", include("aml.api.urls")),  # AML staff API (assessments)
    path("api/v1/", include("aml.cases.api.urls")),  # staff case API (queue, case, actions, approvals)
    # notifications: client pages, the Telegram webhook, the API
    path("", include("aml.notifications.urls")),
    path("api/v1/", include("aml.notifications.api.urls")),
    # Security and privacy (issue 7): account pages, the client's data rights, the staff queue.
    path("", include("nexora.accounts.urls")),
    path("", include("nexora.privacy.urls")),
    path("api/v1/", include("nexora.privacy.api_urls")),
]

handler404 = "nexora.common.views.not_found"
