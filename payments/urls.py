"""Routes of the client area (namespace ``client``): new top-up, the top-up page, history."""

from django.urls import path

from payments import views

app_name = "client"

urlpatterns = [
    path("topups/", views.history, name="history"),
    path("topups/new/", views.topup_new, name="topup-new"),
    path("topups/<str:topup_id>/", views.topup_detail, name="topup"),
    path("topups/<str:topup_id>/tx-hash/", views.topup_tx_hash, name="topup-tx-hash"),
]
