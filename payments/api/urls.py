"""Routes of the payments API under /api/v1/."""

from django.urls import path

from payments.api import views

urlpatterns = [
    path("balance/", views.BalanceView.as_view(), name="balance"),
    path("ledger/", views.LedgerView.as_view(), name="ledger"),
    path("networks/", views.NetworkListView.as_view(), name="network-list"),
    path("topups/", views.TopUpListCreateView.as_view(), name="topup-list"),
    path("topups/<str:topup_id>/", views.TopUpDetailView.as_view(), name="topup-detail"),
    path("topups/<str:topup_id>/tx-hash/", views.TopUpTxHashView.as_view(), name="topup-tx-hash"),
    path("charges/", views.ChargeCreateView.as_view(), name="charge-create"),
    path("charges/<int:pk>/", views.ChargeDetailView.as_view(), name="charge-detail"),
    path("staff/networks/health/", views.StaffNetworkHealthView.as_view(), name="staff-network-health"),
    path(
        "staff/clients/<int:pk>/balance/",
        views.StaffClientBalanceView.as_view(),
        name="staff-client-balance",
    ),
]
