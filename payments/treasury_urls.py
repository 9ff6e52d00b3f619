"""Routes of the treasury's page (namespace ``treasury``), under ``/treasury/``."""

from django.urls import path

from payments import treasury_views

app_name = "treasury"

urlpatterns = [
    path("payouts/", treasury_views.payouts, name="payouts"),
    path("payouts.csv", treasury_views.payouts_csv, name="payouts-csv"),
    path("payouts/<str:payout_id>/sent/", treasury_views.payout_sent, name="payout-sent"),
]
