"""Reads of the privacy app: the staff's erasure queue and a client's requests."""

from __future__ import annotations

from django.db.models import QuerySet

from nexora.accounts.models import ClientProfile
from nexora.privacy.models import ErasureRequest, ErasureStatus


def erasures_pending() -> QuerySet[ErasureRequest]:
    """The queue: oldest deadline first."""
    return (
        ErasureRequest.objects.filter(status=ErasureStatus.PENDING)
        .select_related("client__user")
        .order_by("due_at", "id")
    )


def erasures_decided(limit: int = 50) -> QuerySet[ErasureRequest]:
    decided = ErasureRequest.objects.exclude(status=ErasureStatus.PENDING).select_related(
        "client__user", "decided_by"
    )
    return decided.order_by("-decided_at", "-id")[:limit]


def erasures_for_client(*, client: ClientProfile) -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.filter(client=client).order_by("-created_at", "-id")
