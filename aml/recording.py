"""Writing an assessment with its rule outcomes: one statement on PostgreSQL.

Every screening writes one ``Assessment`` row and one ``RuleOutcome`` per rule that ran (about 15
for a deposit). Through the ORM that is an INSERT, a bulk INSERT and their Python overhead; on the
engine's hot path (target 500 assessments/s, see ``bench/aml.py``) it is one prepared statement
(``aml.sql``): a data-modifying CTE inserts the assessment and, from one JSON array, all of its
outcomes, and returns the new id. Both tables stay append-only (their triggers only refuse UPDATE
and DELETE). On SQLite (the embedded demo) the ORM writes the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from aml.models import Assessment, RuleOutcome
from aml.sql import run

_INSERT = """
WITH a AS (
    INSERT INTO aml_assessment (subject_type, subject_ref, client_id, ruleset_id, trigger, amount, currency,
                                score, decision, sanctions_hit, summary, facts, created_at)
    VALUES (%(subject_type)s, %(subject_ref)s, %(client_id)s, %(ruleset_id)s, %(trigger)s, %(amount)s,
            %(currency)s, %(score)s, %(decision)s, %(sanctions_hit)s, %(summary)s, %(facts)s::jsonb,
            %(created_at)s)
    RETURNING id
), o AS (
    INSERT INTO aml_ruleoutcome (assessment_id, rule, outcome, points, snoozed, reason, data, position)
    SELECT a.id, r.rule, r.outcome, r.points, r.snoozed, r.reason, r.data, r.position
    FROM a, jsonb_to_recordset(%(rows)s::jsonb)
         AS r(rule text, outcome text, points int, snoozed bool, reason text, data jsonb, position int)
)
SELECT id FROM a
"""


@dataclass(frozen=True)
class OutcomeRow:
    rule: str
    outcome: str
    points: int
    snoozed: bool
    reason: str
    data: Mapping[str, Any]  # may hold Decimals and datetimes: made JSON here
    position: int


def _json_default(value: Any) -> Any:
    """Rule data as JSON: Decimals as strings (exact), times as ISO 8601, sets as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def jsonable(value: Any) -> Any:
    """``value`` with everything ``_json_default`` converts already converted (for the ORM path)."""
    return json.loads(json.dumps(value, default=_json_default))


def _orm(fields: dict[str, Any], rows: Sequence[OutcomeRow]) -> Assessment:
    assessment = Assessment.objects.create(**fields)
    RuleOutcome.objects.bulk_create(
        RuleOutcome(assessment=assessment, **{**row.__dict__, "data": jsonable(row.data)}) for row in rows
    )
    return assessment


def _one_statement(fields: dict[str, Any], rows: Sequence[OutcomeRow]) -> Assessment:
    # The outcomes travel as one JSON document (cheaper to send than one array per column).
    outcomes = json.dumps([r.__dict__ for r in rows], default=_json_default)
    values = {**fields, "facts": json.dumps(fields["facts"]), "rows": outcomes}
    with connection.cursor() as cursor:
        run(cursor, "aml_assessment_insert", _INSERT, values)
        (pk,) = cursor.fetchone()
    assessment = Assessment(pk=pk, **fields)
    assessment._state.adding, assessment._state.db = False, connection.alias
    return assessment


def assessment_record(*, rows: Sequence[OutcomeRow], **fields: Any) -> Assessment:
    """Insert an assessment (``fields``: its columns, ``facts`` a JSON-safe dict) and its outcomes."""
    fields.setdefault("created_at", timezone.now())
    if connection.vendor == "postgresql":
        return _one_statement(fields, rows)
    return _orm(fields, rows)
