"""Rule set versions: drafts, four-eyes publishing, diffs, and the seed of version 1.

Workflow (the services the staff dashboard calls):

1. ``ruleset_draft_create(actor=, based_on=None)``: a compliance officer or lead copies the
   published version (or ``based_on``) into a new draft with the next version number; parameters
   of rules added to the code since are filled with their defaults, so they are reviewed too.
2. ``ruleset_draft_update(ruleset=, actor=, params=)``: a partial change merged into the draft,
   validated as a whole (``aml.params.params_parse``), recorded as a ``RuleSetEdit`` with the
   changed paths. Nothing is written when the result is invalid.
3. ``ruleset_diff(draft=, against=None)`` and ``aml.backtest.backtest_run`` show what it changes.
4. ``ruleset_publish(ruleset=, actor=)``: only a ``compliance_lead`` (``aml.publish_ruleset``)
   who is neither the author nor an editor of the draft; the draft must be based on the version
   in force (otherwise it would silently undo a publication made since: ``ruleset_stale``). The
   old version is retired and the draft published in one transaction; the database allows one
   published row, refuses publisher == author, and freezes the published row (trigger).

Status moves go through ``ruleset_transition`` (draft -> published | retired, published ->
retired), each with a ``StatusChange`` audit row. The engine notices a newly published version
through its history query and reloads (``aml.engine``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from aml.models import RuleSet, RuleSetEdit, RuleSetStatus
from aml.params import default_params, params_complete, params_diff, params_merge, params_parse
from nexora.common.errors import Conflict, PermissionDenied, ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply

S = RuleSetStatus
RULESET_TRANSITIONS: TransitionTable = {
    S.DRAFT: frozenset({S.PUBLISHED, S.RETIRED}),
    S.PUBLISHED: frozenset({S.RETIRED}),
    S.RETIRED: frozenset(),
}
SEED_NOTES = "Version 1: the built-in defaults (seeded by migration aml.0003, system-authored)."


def ruleset_transition(
    ruleset: RuleSet, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> RuleSet:
    return transition_apply(
        ruleset,
        table=RULESET_TRANSITIONS,
        to=to,
        entity="ruleset",
        actor=actor,
        reason=reason,
        extra_fields=fields,
    )


def ruleset_seed_default(model: Any = RuleSet) -> None:
    """Publish version 1 with the defaults if there is no rule set at all (migration 0003; also a
    database flushed by a test). ``model`` is the migration's historical model there."""
    if model.objects.exists():
        return
    try:
        with transaction.atomic():
            model.objects.create(
                version=1,
                status=S.PUBLISHED,
                params=default_params(),
                notes=SEED_NOTES,
                published_at=timezone.now(),
            )
    except IntegrityError:  # another process seeded it first
        pass


def _require(actor: Any, permission: str) -> None:
    if not (getattr(actor, "is_authenticated", False) and actor.is_staff and actor.has_perm(permission)):
        raise PermissionDenied("Your role does not allow this change to rule sets.")


def _locked_draft(ruleset: RuleSet) -> RuleSet:
    locked = RuleSet.objects.select_for_update().get(pk=ruleset.pk)
    if locked.status != S.DRAFT:
        raise Conflict(
            f"Rule set v{locked.version} is {locked.status}; only a draft can change.",
            code="ruleset_not_draft",
        )
    return locked


def ruleset_published() -> RuleSet | None:
    return RuleSet.objects.filter(status=S.PUBLISHED).first()


def ruleset_draft_create(*, actor: Any, based_on: RuleSet | None = None) -> RuleSet:
    """A new draft copying ``based_on`` (default: the published version)."""
    _require(actor, "aml.edit_ruleset")
    base = based_on or ruleset_published()
    if base is None:
        raise Conflict("There is no published rule set to start from.", code="no_published_ruleset")
    for _attempt in range(5):  # two editors drafting at once: the loser takes the next number
        try:
            with transaction.atomic():
                version = (RuleSet.objects.aggregate(top=Max("version"))["top"] or 0) + 1
                return RuleSet.objects.create(
                    version=version,
                    status=S.DRAFT,
                    params=params_complete(base.params),
                    based_on=base,
                    created_by=actor,
                    notes=f"Draft based on v{base.version}.",
                )
        except IntegrityError:
            continue
    raise Conflict("Could not number the new draft; retry.", code="stale_state")


@transaction.atomic
def ruleset_draft_update(*, ruleset: RuleSet, actor: Any, params: Mapping[str, Any]) -> RuleSet:
    """Merge ``params`` (a partial document) into the draft; the whole result must be valid."""
    _require(actor, "aml.edit_ruleset")
    if not isinstance(params, Mapping):
        raise ValidationFailed("The parameters must be an object.", code="invalid_ruleset")
    draft = _locked_draft(ruleset)
    merged = params_merge(draft.params, params)
    params_parse(merged)
    changes = params_diff(draft.params, merged)
    if changes:
        RuleSet.objects.filter(pk=draft.pk).update(params=merged, updated_at=timezone.now())
        RuleSetEdit.objects.create(ruleset=draft, actor=actor, changes=changes)
        draft.params = ruleset.params = merged  # the caller's instance is not left stale
    return draft


def _authors(draft: RuleSet) -> set[int]:
    editors = set(RuleSetEdit.objects.filter(ruleset=draft).values_list("actor_id", flat=True))
    return editors | ({draft.created_by_id} if draft.created_by_id else set())


@transaction.atomic
def ruleset_publish(*, ruleset: RuleSet, actor: Any) -> RuleSet:
    """Publish a draft (four eyes: the publisher wrote none of it); retire the version in force."""
    _require(actor, "aml.publish_ruleset")
    draft = _locked_draft(ruleset)
    if actor.pk in _authors(draft):
        raise PermissionDenied(
            "A rule set is published by a compliance lead who did not write or edit it.",
            code="four_eyes_required",
        )
    current = RuleSet.objects.select_for_update().filter(status=S.PUBLISHED).first()
    if current is not None and draft.based_on_id != current.pk:
        raise Conflict(
            f"This draft is not based on v{current.version}, the version now in force; start a new draft.",
            code="ruleset_stale",
        )
    params_parse(draft.params)
    if current is not None:
        ruleset_transition(current, to=S.RETIRED, actor=actor, reason=f"replaced by v{draft.version}")
    now = timezone.now()
    return ruleset_transition(
        draft, to=S.PUBLISHED, actor=actor, reason="published", published_by=actor, published_at=now
    )


def ruleset_diff(*, draft: RuleSet, against: RuleSet | None = None) -> list[dict[str, Any]]:
    """What ``draft`` changes against ``against`` (default: its base, else the published version):
    ``[{"path": "rules.velocity.points", "before": 25, "after": 30}, ...]``."""
    base = against or draft.based_on or ruleset_published()
    return params_diff(base.params if base is not None else {}, draft.params)
