"""Routes of the client's review page (namespace ``review``), under ``/review/``."""

from django.urls import path

from aml.cases import views

app_name = "review"

urlpatterns = [
    path("", views.review, name="page"),
    path("statement/", views.statement, name="statement"),
    path("requests/<str:request_id>/upload/", views.upload, name="upload"),
    path("requests/<str:request_id>/refund-address/", views.refund_address, name="refund-address"),
    path(
        "refund-address/<int:address_id>/confirm/", views.refund_address_confirm_view, name="refund-confirm"
    ),
    path("documents/<str:document_id>/", views.document_download, name="document"),
]
