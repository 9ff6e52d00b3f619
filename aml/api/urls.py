"""Routes of the AML staff API under /api/v1/."""

from django.urls import path

from aml.api import views

urlpatterns = [
    path("staff/assessments/", views.StaffAssessmentListView.as_view(), name="staff-assessment-list"),
]
