"""Routes of the staff case API under /api/v1/."""

from django.urls import path

from aml.cases.api import views

urlpatterns = [
    path("staff/cases/", views.CaseListView.as_view(), name="staff-case-list"),
    path("staff/cases/<int:pk>/", views.CaseDetailView.as_view(), name="staff-case-detail"),
    path("staff/cases/<int:pk>/file/", views.CaseFileView.as_view(), name="staff-case-file"),
    path(
        "staff/cases/<int:pk>/actions/<str:name>/", views.CaseActionView.as_view(), name="staff-case-action"
    ),
    path("staff/approvals/", views.ApprovalListView.as_view(), name="staff-approval-list"),
    path(
        "staff/approvals/<str:public_id>/decide/",
        views.ApprovalDecideView.as_view(),
        name="staff-approval-decide",
    ),
]
