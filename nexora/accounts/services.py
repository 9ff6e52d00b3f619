"""Account services: create clients and API keys, change an account's status.

``account_transition`` is the only writer of ``ClientProfile.status``; the freeze / unfreeze /
terminate services are thin, named entry points over it so callers (AML engine, staff dashboard,
admin) say what they mean.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from nexora.accounts.models import AccountStatus, ApiKey, ClientProfile, User, api_key_hash
from nexora.common.errors import ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply

ACCOUNT_TRANSITIONS: TransitionTable = {
    AccountStatus.ACTIVE: frozenset({AccountStatus.FROZEN, AccountStatus.TERMINATED}),
    AccountStatus.FROZEN: frozenset({AccountStatus.ACTIVE, AccountStatus.TERMINATED}),
    AccountStatus.TERMINATED: frozenset(),
}


@transaction.atomic
def client_create(
    *,
    username: str,
    password: str | None = None,
    email: str = "",
    currency: str = "USD",
    language: str = "en",
) -> ClientProfile:
    if User.objects.filter(username=username).exists():
        raise ValidationFailed(f"Username {username!r} is taken.", code="username_taken")
    user = User.objects.create_user(username=username, email=email, password=password)
    return ClientProfile.objects.create(user=user, currency=currency, language=language)


def account_transition(
    profile: ClientProfile, *, to: str, actor: Any = None, reason: str = ""
) -> ClientProfile:
    # Termination closes the account: ``closed_at`` starts the account data's retention period.
    extra = {"closed_at": timezone.now()} if to == AccountStatus.TERMINATED else None
    return transition_apply(
        profile,
        table=ACCOUNT_TRANSITIONS,
        to=to,
        entity="account",
        actor=actor,
        reason=reason,
        extra_fields=extra,
    )


def account_freeze(*, profile: ClientProfile, actor: Any = None, reason: str) -> ClientProfile:
    return account_transition(profile, to=AccountStatus.FROZEN, actor=actor, reason=reason)


def account_unfreeze(*, profile: ClientProfile, actor: Any = None, reason: str) -> ClientProfile:
    return account_transition(profile, to=AccountStatus.ACTIVE, actor=actor, reason=reason)


def account_terminate(*, profile: ClientProfile, actor: Any = None, reason: str) -> ClientProfile:
    return account_transition(profile, to=AccountStatus.TERMINATED, actor=actor, reason=reason)


def apikey_create(*, name: str, scopes: str = "charges:write") -> tuple[ApiKey, str]:
    """Create a service key; returns the row and the raw key, which is never stored or shown again."""
    raw = "nxk_" + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(name=name, prefix=raw[:12], key_hash=api_key_hash(raw), scopes=scopes)
    return key, raw
