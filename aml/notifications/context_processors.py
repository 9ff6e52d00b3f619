"""The header's unread count, for clients only, and only if a template shows it.

The value is a callable: Django calls it when the template reads ``notifications_unread``, so a
page without the header costs nothing, and one with it costs one ``COUNT`` on the unread partial
index. The client profile itself is already loaded by the header's ``user.is_client``.
"""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest

from aml.notifications.selectors import unread_count


def notifications(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    profile = getattr(user, "client_profile", None)
    if profile is None:
        return {}
    return {"notifications_unread": functools.partial(unread_count, client_id=profile.pk)}
