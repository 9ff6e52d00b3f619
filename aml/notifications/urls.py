"""Routes of the client's notification pages (namespace ``notifications``) and the Telegram webhook."""

from django.urls import path

from aml.notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.inbox, name="inbox"),
    path("notifications/read-all/", views.mark_all_read, name="read-all"),
    path("notifications/<int:notification_id>/read/", views.mark_read, name="read"),
    path("notifications/settings/", views.settings_page, name="settings"),
    path("notifications/settings/telegram/link/", views.telegram_link, name="telegram-link"),
    path("notifications/settings/telegram/unlink/", views.telegram_unlink, name="telegram-unlink"),
    path("telegram/webhook/<str:secret>/", views.telegram_webhook, name="telegram-webhook"),
]
