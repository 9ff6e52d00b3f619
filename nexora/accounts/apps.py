"""Users, client profiles, staff roles, service API keys, the security log and two-factor auth."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "nexora.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_delete, post_migrate, post_save
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from nexora.accounts import otp, security
        from nexora.accounts.admin import on_admin_log_entry
        from nexora.accounts.middleware import staff_session_start
        from nexora.accounts.roles import roles_sync_receiver

        post_migrate.connect(roles_sync_receiver, dispatch_uid="nexora.accounts.roles_sync")
        user_logged_in.connect(security.on_login, dispatch_uid="nexora.security.login")
        user_logged_in.connect(staff_session_start, dispatch_uid="nexora.security.staff_session")
        user_logged_in.connect(otp.on_login_keep_device, dispatch_uid="nexora.security.otp_keep_device")
        user_logged_out.connect(security.on_logout, dispatch_uid="nexora.security.logout")
        user_login_failed.connect(security.on_login_failed, dispatch_uid="nexora.security.login_failed")
        post_save.connect(otp.on_device_saved, sender=TOTPDevice, dispatch_uid="nexora.security.otp_saved")
        post_delete.connect(
            otp.on_device_deleted, sender=TOTPDevice, dispatch_uid="nexora.security.otp_deleted"
        )
        post_save.connect(on_admin_log_entry, sender=LogEntry, dispatch_uid="nexora.security.admin_log")
