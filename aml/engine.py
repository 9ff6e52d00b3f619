"""The AML engine: score a subject with every rule, explain it, store it, act on the decision.

``assessment_create(subject=)`` is the one entry point (the screeners, the re-screen and the
benchmark call it). Inside one transaction (a savepoint when payments' own transaction is open):

1. the rule set in force, from a per-process cache (``ruleset_in_force``); the history query
   returns the published version's id and publication time, so a version published by another
   process is noticed on the next assessment without an extra query, and reloaded;
2. the client's history features (``aml.history``: one SQL statement) and the list look-ups for
   the counterparty address (``aml.lists``);
3. ``evaluate``: every enabled rule that applies to the subject type, each isolated (a rule that
   raises is stored as ``error``); snoozed rules still run and are stored ``snoozed`` with 0
   points; the score is the sum of the hits' points;
4. the decision: a sanctions hit bypasses the score (``freeze``, ``sanctions_hit``); otherwise
   the bands (``review`` / ``freeze`` thresholds of the rule set); a rule in ``error`` never counts
   as clean, so an ``allow`` with an error becomes ``review``;
5. the assessment and its outcomes are inserted (``aml.recording``: one statement on PostgreSQL),
   immutable;
6. anything but ``allow``: the client's row is locked first (the same order as payments' charge
   path, so a charge and a deposit cannot deadlock on profile and case), ``freeze`` freezes the
   account (``account_freeze``), and the assessment opens or joins the client's case.

Payments then holds the money (its hook contract). Nothing here is final: only staff release.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from aml.cases.services import case_open_or_join
from aml.history import History, history_features
from aml.lists import lookups_for
from aml.models import Assessment, AssessmentTrigger, Decision, Outcome, RuleSet, RuleSetStatus
from aml.params import ParsedParams, params_parse
from aml.recording import OutcomeRow, assessment_record
from aml.rules import RULES, SANCTIONS_RULE
from aml.rules.base import Features, Rule, RuleResult, Subject, error
from aml.rulesets import ruleset_seed_default
from nexora.accounts.models import AccountStatus, ClientProfile
from nexora.accounts.services import account_freeze

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledRuleSet:
    id: int
    version: int
    published_at: datetime | None
    params: ParsedParams


_in_force: CompiledRuleSet | None = None


def ruleset_in_force(*, seen: tuple[int | None, datetime | None] | None = None) -> CompiledRuleSet:
    """The published rule set, parsed once per process; ``seen`` is (id, published_at) as the
    history query just read them: a mismatch means another version was published since."""
    global _in_force
    cached = _in_force
    if cached is not None and (seen is None or seen == (cached.id, cached.published_at)):
        return cached
    row = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).first()
    if row is None:
        ruleset_seed_default()
        row = RuleSet.objects.get(status=RuleSetStatus.PUBLISHED)
    _in_force = CompiledRuleSet(row.pk, row.version, row.published_at, params_parse(row.params))
    return _in_force


def ruleset_in_force_checked() -> CompiledRuleSet:
    """The published rule set, checked against the database first (one query): for paths that do
    not run the history query (the engine-failure fallback)."""
    row = RuleSet.objects.filter(status=RuleSetStatus.PUBLISHED).values_list("id", "published_at").first()
    return ruleset_in_force(seen=row or (None, None))


def ruleset_compile(ruleset: RuleSet) -> CompiledRuleSet:
    """Any version (a draft for a backtest) in the engine's form; raises if its params are invalid."""
    return CompiledRuleSet(ruleset.pk, ruleset.version, ruleset.published_at, params_parse(ruleset.params))


@dataclass(frozen=True)
class RuleRun:
    position: int
    rule: str
    result: RuleResult
    snoozed: bool
    points: int


@dataclass(frozen=True)
class Evaluation:
    runs: tuple[RuleRun, ...]
    score: int
    decision: str
    sanctions_hit: bool
    summary: str


def _run(rule: Rule, subject: Subject, features: Features, params: Mapping[str, Any]) -> RuleResult:
    try:
        return rule.evaluate(subject, features, params)
    except Exception as exc:  # one broken rule must not silence the others, nor count as clean
        logger.exception("AML rule %s failed on %s", rule.name, subject.ref)
        return error(f"The rule failed: {type(exc).__name__}: {exc}"[:500])


def _decide(score: int, *, errors: bool, sanctions: bool, params: ParsedParams) -> str:
    if sanctions:
        return Decision.FREEZE
    if score >= params.freeze:
        return Decision.FREEZE
    if score >= params.review or errors:
        return Decision.REVIEW
    return Decision.ALLOW


def _summary(decision: str, score: int, runs: tuple[RuleRun, ...], version: int) -> str:
    hits = [f"{r.rule} +{r.points}" for r in runs if r.points]
    errors = [r.rule for r in runs if r.result.outcome == Outcome.ERROR]
    parts = [f"{decision} at {score} points (rule set v{version})"]
    if hits:
        parts.append(", ".join(hits))
    if errors:
        parts.append("errors: " + ", ".join(errors))
    return "; ".join(parts)[:300]


def evaluate(*, subject: Subject, features: Features, ruleset: CompiledRuleSet) -> Evaluation:
    """Pure: run the rules on the facts and features, score, decide, summarise."""
    params, runs = ruleset.params, []
    for position, rule in enumerate(RULES):
        if subject.type not in rule.subjects or not params.enabled(rule.name) or not rule.applies(subject):
            continue
        result = _run(rule, subject, features, params.rules[rule.name])
        snoozed = rule.snoozable and rule.name in features.snoozed
        points = result.points if result.outcome == Outcome.HIT and not snoozed else 0
        runs.append(RuleRun(position, rule.name, result, snoozed, points))
    done = tuple(runs)
    score = sum(r.points for r in done)
    sanctions = any(r.rule == SANCTIONS_RULE and r.result.outcome == Outcome.HIT for r in done)
    errors = any(r.result.outcome == Outcome.ERROR for r in done)
    decision = _decide(score, errors=errors, sanctions=sanctions, params=params)
    return Evaluation(done, score, decision, sanctions, _summary(decision, score, done, ruleset.version))


def features_for(
    *, subject: Subject, ruleset: CompiledRuleSet | None = None, exclude_deposit: int | None = None
) -> tuple[Features, CompiledRuleSet]:
    """History and look-ups for ``subject``; with no ``ruleset``, the one in force (reloaded if the
    history query shows that another version was published since the cache was filled)."""
    compiled = ruleset or ruleset_in_force()
    found = lookups_for(subject.counterparty)
    lists = {"sanctions_hits": found.sanctions, "deny_hits": found.deny, "lookup_errors": found.errors}
    history: History = history_features(
        subject=subject, params=compiled.params, exclude_deposit=exclude_deposit, extra=lists
    )
    if ruleset is None and history.seen != (compiled.id, compiled.published_at):
        compiled = ruleset_in_force(seen=history.seen)
        history = history_features(
            subject=subject, params=compiled.params, exclude_deposit=exclude_deposit, extra=lists
        )
    return history.features, compiled


def _store(subject: Subject, ruleset: CompiledRuleSet, evaluation: Evaluation, trigger: str) -> Assessment:
    rows = [
        OutcomeRow(run.rule, run.result.outcome, run.points, run.snoozed, run.result.reason,
                   run.result.data, run.position)
        for run in evaluation.runs
    ]  # fmt: skip
    return assessment_record(
        rows=rows, subject_type=subject.type, subject_ref=subject.ref, client_id=subject.client_id,
        ruleset_id=ruleset.id, trigger=trigger, amount=subject.amount, currency=subject.currency,
        score=evaluation.score, decision=evaluation.decision, sanctions_hit=evaluation.sanctions_hit,
        summary=evaluation.summary, facts=subject.facts(),
    )  # fmt: skip


def assessment_act(*, assessment: Assessment) -> None:
    """Hold-side consequences of a stored assessment: freeze the account, open or join the case.
    The client's row is locked before the case (see the module docstring)."""
    if assessment.decision == Decision.ALLOW:
        return
    profile = ClientProfile.objects.select_for_update().get(pk=assessment.client_id)
    if assessment.decision == Decision.FREEZE and profile.status == AccountStatus.ACTIVE:
        account_freeze(profile=profile, reason=f"AML assessment #{assessment.pk}: {assessment.summary}")
    case_open_or_join(client=profile, assessment=assessment)


def assessment_create(
    *, subject: Subject, trigger: str = AssessmentTrigger.EVENT, exclude_deposit: int | None = None
) -> Assessment:
    """Score ``subject`` with the rule set in force, store the explanation, act on the decision."""
    with transaction.atomic():
        features, ruleset = features_for(subject=subject, exclude_deposit=exclude_deposit)
        evaluation = evaluate(subject=subject, features=features, ruleset=ruleset)
        assessment = _store(subject, ruleset, evaluation, trigger)
        assessment_act(assessment=assessment)
    return assessment


def assessment_engine_failed(*, subject: Subject, failure: BaseException) -> Assessment:
    """When scoring itself failed (not one rule: the engine), still leave a record a human sees:
    an assessment with one ``engine`` error outcome, decided ``review``, in the client's case."""
    with transaction.atomic():
        ruleset = ruleset_in_force_checked()
        reason = f"The engine could not score this subject: {type(failure).__name__}: {failure}"[:500]
        run = RuleRun(len(RULES), "engine", error(reason), False, 0)
        evaluation = Evaluation(
            (run,), 0, Decision.REVIEW, False, f"review: engine error ({type(failure).__name__})"
        )
        assessment = _store(subject, ruleset, evaluation, AssessmentTrigger.EVENT)
        assessment_act(assessment=assessment)
    return assessment
