"""Backtest: what a draft rule set would have decided on the subjects of the last N days.

``backtest_run(draft=, days=)`` takes the latest event assessment of every subject screened in the
window (deposits, charges, payouts, account changes: each assessment keeps its subject's facts),
re-scores it with the draft exactly as the engine would have at the time (history "as of" the
original assessment, the subject itself excluded, snoozes then in force), and compares the
decision with the one actually taken. The report says how many subjects were re-scored, how many
decisions would change (stricter / softer, and from what to what) and lists each change.

What it cannot replay: list look-ups are today's (a newer sanctions list may find more), and a
subject's own later effects (a case that froze the account) are not undone in the history. The
whole run happens in a transaction that is rolled back: a backtest writes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from aml.engine import CompiledRuleSet, evaluate, features_for, ruleset_compile
from aml.models import DECISION_ORDER, Assessment, AssessmentTrigger, Decision, RuleSet
from aml.rules.base import Subject
from nexora.common.errors import ValidationFailed

MAX_DAYS = 365


@dataclass(frozen=True)
class BacktestChange:
    assessment_id: int
    subject_ref: str
    client_id: int
    screened_at: datetime
    before: str
    after: str
    score_before: int
    score_after: int
    summary_after: str


@dataclass(frozen=True)
class BacktestReport:
    draft_version: int
    days: int
    since: datetime
    subjects: int
    changed: int
    stricter: int
    softer: int
    moves: dict[str, int] = field(default_factory=dict)  # "allow->review": count
    changes: tuple[BacktestChange, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "draft_version": self.draft_version,
            "days": self.days,
            "since": self.since.isoformat(),
            "subjects": self.subjects,
            "changed": self.changed,
            "stricter": self.stricter,
            "softer": self.softer,
            "moves": dict(self.moves),
            "changes": [{**c.__dict__, "screened_at": c.screened_at.isoformat()} for c in self.changes],
        }

    def as_text(self) -> str:
        lines = [
            f"Backtest of rule set v{self.draft_version} over {self.days} days "
            f"(since {self.since:%Y-%m-%d %H:%M} UTC)",
            f"{self.subjects} subjects re-scored; {self.changed} decisions would change "
            f"({self.stricter} stricter, {self.softer} softer)",
        ]
        lines += [f"  {move}: {count}" for move, count in sorted(self.moves.items())]
        lines += [
            f"  {c.subject_ref} (client #{c.client_id}, {c.screened_at:%Y-%m-%d %H:%M}): "
            f"{c.before} {c.score_before} -> {c.after} {c.score_after}; {c.summary_after}"
            for c in self.changes
        ]
        return "\n".join(lines)


def _latest_per_subject(since: datetime) -> list[Assessment]:
    found = Assessment.objects.filter(trigger=AssessmentTrigger.EVENT, created_at__gte=since).exclude(
        facts={}
    )
    latest: dict[str, Assessment] = {}
    for assessment in found.order_by("created_at", "id").iterator(chunk_size=2000):
        latest[assessment.subject_ref] = assessment
    return list(latest.values())


def _rescore(assessment: Assessment, compiled: CompiledRuleSet) -> BacktestChange | None:
    subject = Subject.from_facts(assessment.facts)
    features, _ = features_for(subject=subject, ruleset=compiled, exclude_deposit=subject.deposit_id)
    result = evaluate(subject=subject, features=features, ruleset=compiled)
    if result.decision == assessment.decision:
        return None
    return BacktestChange(
        assessment.pk,
        assessment.subject_ref,
        assessment.client_id,
        assessment.created_at,
        assessment.decision,
        result.decision,
        assessment.score,
        result.score,
        result.summary,
    )


def backtest_run(*, draft: RuleSet, days: int) -> BacktestReport:
    """Re-score the last ``days`` days of subjects with ``draft``; nothing is written."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(
            f"Backtest between 1 and {MAX_DAYS} days.",
            code="invalid_days",
            fields={"days": [{"code": "invalid_days", "message": "1 to 365."}]},
        )
    compiled = ruleset_compile(draft)
    since = timezone.now() - timedelta(days=days)
    with transaction.atomic():
        subjects = _latest_per_subject(since)
        changes = tuple(c for c in (_rescore(a, compiled) for a in subjects) if c is not None)
        transaction.set_rollback(True)
    order = {d.value: DECISION_ORDER[d] for d in Decision}
    stricter = sum(1 for c in changes if order[c.after] > order[c.before])
    moves = Counter(f"{c.before}->{c.after}" for c in changes)
    return BacktestReport(
        draft_version=draft.version,
        days=days,
        since=since,
        subjects=len(subjects),
        changed=len(changes),
        stricter=stricter,
        softer=len(changes) - stricter,
        moves=dict(moves),
        changes=changes,
    )
