"""Removing a person from their account, in two steps.

* ``client_erase`` (an erasure request is executed): everything no legal duty keeps goes at once:
  login (username replaced by ``erased-<id>``, password unusable, account inactive), e-mail,
  Telegram chat, notification settings, language, API tokens and two-factor devices. Changing the
  password hash also ends every open session (Django checks it on each request). The name stays
  while financial or AML records of the person are inside their period: those records must remain
  attributable (accounting and AML law); it goes with the second step.
* ``client_anonymise`` (the retention purge, once the account's period and every legal record's
  period have passed; or at erasure when there are no such records): ``client_erase`` plus the
  name, and ``anonymised_at`` is set. What remains is the client number linking the ledger rows,
  which are never deleted because balances and the operator's books derive from them.

Neither touches the ledger, deposits or top-ups: they carry no contact data, only the client id.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from nexora.accounts.models import ClientProfile, User


def _username_free(profile: ClientProfile) -> str:
    base = f"erased-{profile.pk}"
    if not User.objects.filter(username=base).exclude(pk=profile.user_id).exists():
        return base
    return f"{base}-{profile.user_id}"


@transaction.atomic
def client_erase(*, profile: ClientProfile) -> ClientProfile:
    user = profile.user
    Token.objects.filter(user=user).delete()
    for device in TOTPDevice.objects.filter(user=user):
        device.delete()  # each confirmed one is logged as a removal
    user.username = _username_free(profile)
    user.email = ""
    user.is_active = False
    user.set_unusable_password()  # leaves no raw password behind: not logged as a change (User.save)
    user.save(update_fields=["username", "email", "is_active", "password"])
    profile.telegram_chat_id = ""
    profile.notify_email = profile.notify_telegram = False
    profile.language = settings.LANGUAGE_CODE
    profile.save(
        update_fields=["telegram_chat_id", "notify_email", "notify_telegram", "language", "updated_at"]
    )
    return profile


@transaction.atomic
def client_anonymise(*, profile: ClientProfile) -> ClientProfile:
    client_erase(profile=profile)
    User.objects.filter(pk=profile.user_id).update(first_name="", last_name="")
    profile.anonymised_at = timezone.now()
    profile.save(update_fields=["anonymised_at", "updated_at"])
    return profile


def profiles_anonymise(profiles: models.QuerySet) -> int:
    """The account category's anonymiser (``nexora.privacy.categories``)."""
    count = 0
    for profile in profiles.select_related("user"):
        client_anonymise(profile=profile)
        count += 1
    return count
