"""Privacy pages (namespace ``privacy``): the client's profile and data rights, the staff's queue."""

from django.urls import path

from nexora.privacy import views, views_staff

app_name = "privacy"

urlpatterns = [
    path("account/", views.profile, name="profile"),
    path("account/privacy/", views.privacy_page, name="privacy"),
    path("account/privacy/export.json", views.export_download, {"fmt": "json"}, name="export-json"),
    path("account/privacy/export.csv", views.export_download, {"fmt": "csv"}, name="export-csv"),
    path("account/privacy/erasure/", views.erasure_create, name="erasure-create"),
    path("account/privacy/erasure/withdraw/", views.erasure_withdraw_view, name="erasure-withdraw"),
    path("staff/privacy/erasures/", views_staff.queue, name="staff-erasures"),
    path("staff/privacy/erasures/<int:pk>/", views_staff.detail, name="staff-erasure"),
    path(
        "staff/privacy/erasures/<int:pk>/execute/",
        views_staff.answer,
        {"decision": "execute"},
        name="staff-erasure-execute",
    ),
    path(
        "staff/privacy/erasures/<int:pk>/refuse/",
        views_staff.answer,
        {"decision": "refuse"},
        name="staff-erasure-refuse",
    ),
]
