"""Routes of the client area (namespace ``client``): new top-up, the top-up page, history."""

from django.urls import path

from payments import views, views_devnet

app_name = "client"

urlpatterns = [
    path("topups/", views.history, name="history"),
    path("topups/new/", views.topup_new, name="topup-new"),
    path("topups/<str:topup_id>/", views.topup_detail, name="topup"),
    path("topups/<str:topup_id>/tx-hash/", views.topup_tx_hash, name="topup-tx-hash"),
    # The demo's devnet wallet (refused unless NEXORA_DEVNET_WALLET and a testnet network).
    path("topups/<str:topup_id>/devnet-pay/", views_devnet.devnet_pay, name="topup-devnet-pay"),
]
