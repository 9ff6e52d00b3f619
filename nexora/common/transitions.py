"""The status-transition engine behind every ``<family>_transition`` function.

Each model family (account, charge, hold, top-up, deposit, case, payout, ...) declares an explicit
table ``{from_status: {allowed to_status, ...}}`` and exposes one function, e.g.
``charge_transition``, that calls ``transition_apply`` here. The engine:

1. refuses a move that is not in the table (``invalid_transition``);
2. updates with compare-and-set (``WHERE pk = .. AND status = <what we read>``), so two racing
   writers cannot both win: the loser gets ``stale_state`` instead of silently overwriting;
3. writes a ``StatusChange`` audit row in the same database transaction.

Nothing else assigns ``.status``; creating a row in its initial status is not a transition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import models, transaction
from django.utils import timezone

from nexora.common.errors import InvalidTransition, StaleState
from nexora.common.models import StatusChange

M = TypeVar("M", bound=models.Model)
TransitionTable = Mapping[str, frozenset[str]]


def transition_allowed(table: TransitionTable, source: str, target: str) -> bool:
    return target in table.get(source, frozenset())


def transition_apply(
    obj: M,
    *,
    table: TransitionTable,
    to: str,
    entity: str,
    actor: Any = None,
    reason: str = "",
    extra_fields: Mapping[str, Any] | None = None,
    field: str = "status",
) -> M:
    """Move ``obj.<field>`` to ``to`` if the table allows it; audit the change; return ``obj``."""
    source = getattr(obj, field)
    if not transition_allowed(table, source, to):
        raise InvalidTransition(f"{entity} cannot go from {source!r} to {to!r}.")
    changes: dict[str, Any] = {field: to, **(extra_fields or {})}
    if any(f.name == "updated_at" for f in obj._meta.get_fields()):
        changes["updated_at"] = timezone.now()
    # No savepoint: the UPDATE and the audit row commit or fail together with the caller's
    # transaction. A lost compare-and-set writes nothing, so it is raised after the block and a
    # caller may catch it and carry on.
    with transaction.atomic(savepoint=False):
        updated = type(obj)._default_manager.filter(pk=obj.pk, **{field: source}).update(**changes)
        if updated == 1:
            StatusChange.objects.create(
                entity=entity,
                entity_id=str(obj.pk),
                from_status=source,
                to_status=to,
                actor=actor if getattr(actor, "pk", None) else None,
                reason=reason,
            )
    if updated != 1:
        raise StaleState(f"{entity} #{obj.pk} is no longer {source!r}.")
    for name, value in changes.items():
        setattr(obj, name, value)
    return obj
