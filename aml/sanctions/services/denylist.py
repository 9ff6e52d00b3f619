"""The operator's own deny list (rule 2 of the AML issue): addresses compliance staff refuse.

* ``denylist_add`` puts a canonical address on the list with a reason; the row records who and
  when. One active entry per address (a partial unique index): adding it again is a 409.
* ``denylist_remove`` is a soft removal: the entry goes ``active → removed`` through
  ``denylist_transition`` (compare-and-set, and a ``StatusChange`` row with the actor and the
  reason) and keeps who removed it, when and why. The row stays; PostgreSQL refuses to delete or
  reopen it. Adding the address again later opens a new entry, so the history reads in order.

Both need a staff user holding ``sanctions.manage_denylist`` (the compliance roles, see
``nexora/accounts/roles.py``); anyone else gets 403 and nothing is written. Matching is
``selectors.denylist_match``, through the snapshot, which both services mark stale.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from aml.sanctions.models import DenyListEntry, DenyListStatus
from aml.sanctions.normalize import canonical_address, classify_address
from aml.sanctions.snapshot import snapshot_mark_stale
from nexora.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply

MANAGE_PERMISSION = "sanctions.manage_denylist"
DENYLIST_TRANSITIONS: TransitionTable = {
    DenyListStatus.ACTIVE: frozenset({DenyListStatus.REMOVED}),
    DenyListStatus.REMOVED: frozenset(),  # re-adding an address opens a new entry
}


def denylist_transition(
    entry: DenyListEntry, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> DenyListEntry:
    return transition_apply(
        entry,
        table=DENYLIST_TRANSITIONS,
        to=to,
        entity="denylist_entry",
        actor=actor,
        reason=reason,
        extra_fields=fields,
    )


def denylist_add(*, address: str, reason: str, actor: Any) -> DenyListEntry:
    """Put ``address`` on the deny list; returns the new entry."""
    _require_manager(actor)
    canonical = canonical_address(address)
    reason = _required_reason(reason)
    try:
        with transaction.atomic():
            entry = DenyListEntry.objects.create(
                family=classify_address(canonical),
                address=canonical,
                listed_as=address.strip(),
                reason=reason,
                added_by=actor,
            )
            snapshot_mark_stale()
    except IntegrityError:  # the partial unique index: an active entry exists (maybe just now)
        raise Conflict(
            "This address is already on the deny list.",
            code="already_denylisted",
            fields={"address": canonical},
        ) from None
    return entry


def denylist_remove(*, address: str, reason: str, actor: Any) -> DenyListEntry:
    """Remove ``address`` from the deny list (soft: the entry is closed, not deleted)."""
    _require_manager(actor)
    canonical = canonical_address(address)
    reason = _required_reason(reason)
    entry = DenyListEntry.objects.filter(address=canonical, status=DenyListStatus.ACTIVE).first()
    if entry is None:
        raise NotFound(
            "This address is not on the deny list.", code="not_denylisted", fields={"address": canonical}
        )
    with transaction.atomic():
        denylist_transition(
            entry,
            to=DenyListStatus.REMOVED,
            actor=actor,
            reason=reason,
            removed_by=actor,
            removed_at=timezone.now(),
            removal_reason=reason,
        )
        snapshot_mark_stale()
    return entry


def _require_manager(actor: Any) -> None:
    allowed = (
        getattr(actor, "is_authenticated", False)
        and getattr(actor, "is_staff", False)
        and actor.has_perm(MANAGE_PERMISSION)
    )
    if not allowed:
        raise PermissionDenied("Only compliance staff may change the deny list.")


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why: a deny-list change needs a reason.", code="reason_required", fields={"reason": ""}
        )
    return reason
