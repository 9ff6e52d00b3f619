"""The staff dashboard's rule set pages: list, one version, draft edits, backtest, four-eyes publish.

``/staff/rules/`` lists every version (the one in force first by number); ``/staff/rules/<v>/``
shows a version's parameters and, for a draft, its diff against the version it is based on
(``aml.rulesets.ruleset_diff``), its edit trail, a form with one field per parameter, the backtest
form and the publish button. Each POST calls one service of ``aml.rulesets`` / ``aml.backtest``,
which check the permissions themselves (``aml.edit_ruleset`` to draft, edit and backtest;
``aml.publish_ruleset`` and not an author of the draft to publish: four eyes). The pages only hide
the forms a reader may not use.

Editing: every parameter is a leaf of the params document (``rules.velocity.points``); a field
keeps the leaf's type (on/off for a flag, a whole number for a count, text for an amount, empty for
"no limit"). Only changed leaves are sent to ``ruleset_draft_update`` as a partial document; the
service validates the merged whole and writes nothing when it is invalid (the page re-renders
with every problem and HTTP 400). A backtest writes nothing either; its report is shown once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from aml.backtest import MAX_DAYS, backtest_run
from aml.models import RuleSet, RuleSetEdit, RuleSetStatus
from aml.rulesets import ruleset_diff, ruleset_draft_create, ruleset_draft_update, ruleset_publish
from nexora.accounts.decorators import staff_permission_required
from nexora.common.errors import NexoraError, ValidationFailed

VIEW_PERM, EDIT_PERM, PUBLISH_PERM = "aml.view_ruleset", "aml.edit_ruleset", "aml.publish_ruleset"
FIELD_PREFIX = "p:"


def _leaves(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key in sorted(params):
        value = params[key]
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _leaf_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "flag"
    return "number" if isinstance(value, int) else "text"


def _ruleset_or_404(version: int) -> RuleSet:
    ruleset = RuleSet.objects.select_related("based_on", "created_by", "published_by").filter(version=version)
    found = ruleset.first()
    if found is None:
        raise Http404
    return found


def _context(request: HttpRequest, ruleset: RuleSet, **extra: Any) -> dict[str, Any]:
    user, draft = request.user, ruleset.status == RuleSetStatus.DRAFT
    leaves = [{"path": p, "value": v, "kind": _leaf_kind(v)} for p, v in _leaves(ruleset.params)]
    return {
        "ruleset": ruleset,
        "draft": draft,
        "leaves": leaves,
        "diff": ruleset_diff(draft=ruleset) if draft else [],
        "edits": RuleSetEdit.objects.filter(ruleset=ruleset).select_related("actor"),
        "can_edit": draft and user.has_perm(EDIT_PERM),
        "can_publish": draft and user.has_perm(PUBLISH_PERM),
        "max_days": MAX_DAYS,
        **extra,
    }


def _refused(request: HttpRequest, ruleset: RuleSet, exc: NexoraError) -> HttpResponse:
    status = exc.status if 400 <= exc.status < 500 else 400
    return render(request, "staff/ruleset.html", _context(request, ruleset, error=exc), status=status)


@staff_permission_required(VIEW_PERM)
@require_GET
def rulesets(request: HttpRequest) -> HttpResponse:
    rows = RuleSet.objects.select_related("created_by", "published_by", "based_on").order_by("-version")
    return render(
        request, "staff/rules.html", {"rulesets": rows, "can_edit": request.user.has_perm(EDIT_PERM)}
    )


@staff_permission_required(VIEW_PERM)
@require_GET
def ruleset_detail(request: HttpRequest, version: int) -> HttpResponse:
    return render(request, "staff/ruleset.html", _context(request, _ruleset_or_404(version)))


@staff_permission_required(EDIT_PERM)
@require_POST
def draft_create(request: HttpRequest) -> HttpResponse:
    try:
        draft = ruleset_draft_create(actor=request.user)
    except NexoraError as exc:
        messages.error(request, f"{exc.code}: {exc.message}")
        return redirect("staff:rules")
    messages.success(request, gettext("Draft v%(v)s created.") % {"v": draft.version})
    return redirect("staff:ruleset", version=draft.version)


def _typed(path: str, current: Any, raw: str) -> Any:
    kind = _leaf_kind(current)
    if kind == "flag":
        return raw in ("on", "true", "1")
    raw = raw.strip()
    if kind == "number":
        if not raw.lstrip("-").isdigit():
            raise ValidationFailed(
                f"{path}: a whole number.", code="invalid_ruleset",
                fields={path: [{"code": "invalid_ruleset", "message": "A whole number."}]},
            )  # fmt: skip
        return int(raw)
    return raw or None


def _changes(ruleset: RuleSet, posted: Mapping[str, Any]) -> dict[str, Any]:
    """The partial params document of the leaves whose posted value differs from the draft's."""
    changes: dict[str, Any] = {}
    for path, current in _leaves(ruleset.params):
        raw = posted.get(FIELD_PREFIX + path, "")
        if _leaf_kind(current) != "flag" and FIELD_PREFIX + path not in posted:
            continue
        value = _typed(path, current, raw)
        if value == current:
            continue
        node = changes
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return changes


@staff_permission_required(EDIT_PERM)
@require_POST
def draft_update(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = _ruleset_or_404(version)
    try:
        changes = _changes(ruleset, request.POST)
        ruleset_draft_update(ruleset=ruleset, actor=request.user, params=changes)
    except NexoraError as exc:
        return _refused(request, ruleset, exc)
    if changes:
        messages.success(request, gettext("The draft is saved."))
    else:
        messages.info(request, gettext("Nothing changed."))
    return redirect("staff:ruleset", version=ruleset.version)


@staff_permission_required(EDIT_PERM)
@require_POST
def backtest(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = _ruleset_or_404(version)
    raw = request.POST.get("days", "").strip()
    try:
        report = backtest_run(draft=ruleset, days=int(raw) if raw.isdigit() else 0)
    except NexoraError as exc:
        return _refused(request, ruleset, exc)
    return render(request, "staff/ruleset.html", _context(request, ruleset, report=report))


@staff_permission_required(PUBLISH_PERM)
@require_POST
def publish(request: HttpRequest, version: int) -> HttpResponse:
    ruleset = _ruleset_or_404(version)
    try:
        ruleset_publish(ruleset=ruleset, actor=request.user)
    except NexoraError as exc:
        return _refused(request, ruleset, exc)
    messages.success(request, gettext("v%(v)s is published and in force.") % {"v": ruleset.version})
    return redirect("staff:ruleset", version=ruleset.version)
