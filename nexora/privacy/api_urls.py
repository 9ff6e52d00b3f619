"""Routes of the privacy API under /api/v1/."""

from django.urls import path

from nexora.privacy import api

urlpatterns = [
    path("me/export/", api.MyExportView.as_view(), name="me-export"),
]
