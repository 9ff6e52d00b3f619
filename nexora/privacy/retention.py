"""The retention purge: apply each registered category's action to the rows past their period.

``retention_purge(*, dry_run, now=None)`` walks the registry (``nexora.privacy.registry``) in
registration order and, per category, in its own transaction:

1. computes the cut-off: ``now`` minus the category's period in calendar months;
2. selects the expired rows: clock before the cut-off (or ``early``: e.g. the person's erasure was
   executed), and still ``pending`` the action;
3. for ``waits_for_legal`` categories (the client profile), leaves out the clients who still have
   a record in a legal category (financial, AML) inside its period: the person stays attached to
   those records until the last of them has expired;
4. deletes, anonymises, or (``keep``) leaves the rows, and reports the counts.

``now`` exists so that tests (and an operator checking a plan) can ask "what would happen on
that day"; the Celery task and the command use the real time. ``--dry-run`` reports the same
counts and changes nothing. Rows of append-only models are deleted with
``nexora.common.models.append_only_purge``, the one path their database trigger lets through.

Ledger rows are never deleted, before or after their period (``keep``): balances, the zero sum of
every transaction and the revenue totals derive from them, and PostgreSQL refuses the DELETE. What
makes them personal data is the link to a client, so after the period the person is anonymised in
the profile instead (``nexora.privacy.services.anonymise``).
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from nexora.common.models import AppendOnlyModel, append_only_purge
from nexora.privacy.registry import Action, DataCategory, categories


def months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus calendar months, the day clamped to the target month's length."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def months_after(moment: datetime, months: int) -> datetime:
    return months_before(moment, -months)


@dataclass(frozen=True)
class CategoryOutcome:
    name: str
    action: str
    period: str
    months: int
    cutoff: datetime
    expired: int  # past the period and still needing the action
    acted: int  # deleted or anonymised now (0 on a dry run and for "keep")
    waiting: int  # expired, but the person still has legal records inside their period
    within: int  # rows still inside their period

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cutoff": self.cutoff.isoformat()}


def _due(category: DataCategory, cutoff: datetime) -> models.Q:
    due = models.Q(**{f"{category.clock}__lt": cutoff})
    return due | category.early if category.early is not None else due


def _expired(category: DataCategory, cutoff: datetime) -> models.QuerySet:
    manager = category.model_class._default_manager
    # By primary key: ``early`` may follow a reverse relation, and a join must not repeat rows.
    expired = manager.filter(pk__in=manager.filter(_due(category, cutoff)).values("pk"))
    if category.pending is not None:
        expired = expired.filter(category.pending)
    return expired


def legal_holders(owner_ids: set[int], now: datetime) -> set[int]:
    """Of these clients, those with a record in a legal category that is still inside its period.

    A record whose clock has not started (``case__closed_at`` of an open case, ``finished_at`` of a
    refund in progress) is inside its period: its period has not even begun."""
    held: set[int] = set()
    for legal in (c for c in categories() if c.legal):
        cutoff = months_before(now, legal.months)
        inside = models.Q(**{f"{legal.clock}__gte": cutoff}) | models.Q(**{f"{legal.clock}__isnull": True})
        rows = legal.model_class._default_manager.filter(
            inside, **{f"{legal.owner_id_path}__in": owner_ids - held}
        )
        held |= set(rows.values_list(legal.owner_id_path, flat=True).distinct())
    return held


def _act(category: DataCategory, expired: models.QuerySet, cutoff: datetime) -> int:
    if category.action == Action.DELETE:
        if issubclass(category.model_class, AppendOnlyModel):
            return append_only_purge(expired, before=cutoff)
        deleted, _ = expired.delete()
        return deleted
    if category.action == Action.ANONYMISE:
        assert category.anonymise is not None  # checked at registration
        return category.anonymise(expired)
    return 0


def category_purge(category: DataCategory, *, now: datetime, dry_run: bool) -> CategoryOutcome:
    cutoff = months_before(now, category.months)
    with transaction.atomic():
        expired = _expired(category, cutoff)
        waiting = 0
        if category.waits_for_legal:
            ids = set(expired.values_list(category.owner_id_path, flat=True))
            held = legal_holders(ids, now)
            waiting = len(held)
            expired = expired.exclude(**{f"{category.owner_id_path}__in": held})
        count = expired.count()
        acted = 0 if dry_run or not count else _act(category, expired, cutoff)
        within = category.model_class._default_manager.exclude(_due(category, cutoff)).count()
    return CategoryOutcome(
        name=category.name,
        action=str(category.action),
        period=category.period,
        months=category.months,
        cutoff=cutoff,
        expired=count,
        acted=acted,
        waiting=waiting,
        within=within,
    )


def retention_purge(*, dry_run: bool = False, now: datetime | None = None) -> list[CategoryOutcome]:
    """Run (or, with ``dry_run``, plan) the purge of every registered category."""
    moment = now or timezone.now()
    return [category_purge(category, now=moment, dry_run=dry_run) for category in categories()]
