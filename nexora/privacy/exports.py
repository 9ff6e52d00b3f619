"""The client's copy of their data (right of access and portability): JSON and CSV.

``export_build(client=...)`` asks every registered category that has an ``export`` function for
the client's rows (``nexora.privacy.registry``) and returns one document::

    {"format": "nexora-export/1", "generated_at": "...", "client_id": 7,
     "categories": {"profile": [{...}], "topups": [...], "ledger": [...], ...}}

Values are made plain for both formats: ``Decimal``, ``UUID`` and dates become strings (amounts
keep every digit), ``None`` stays null in JSON and is empty in CSV.

The CSV is one file in long form, ``category,record,field,value`` (``record`` numbers the rows of
a category from 1), so categories with different columns fit in one file that any spreadsheet
opens and any program can pivot back; the JSON is the same content, nested.

What is *not* in the copy: AML assessments, rule outcomes, scores and case notes (invariant 8,
no tipping-off; see docs/privacy.md for the legal basis), internal idempotency keys, secrets of
two-factor devices and API tokens, and other people's data (staff names).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from django.utils import timezone

from nexora.accounts.models import ClientProfile
from nexora.privacy.registry import categories

FORMAT = "nexora-export/1"


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def export_build(*, client: ClientProfile) -> dict[str, Any]:
    sections = {
        category.name: [{k: _plain(v) for k, v in row.items()} for row in category.export(client)]
        for category in categories()
        if category.export is not None
    }
    return {
        "format": FORMAT,
        "generated_at": timezone.now().isoformat(),
        "client_id": client.pk,
        "categories": sections,
    }


def export_json(document: Mapping[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    text = str(value)
    # A spreadsheet would run a cell starting with these as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def export_csv(document: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["category", "record", "field", "value"])
    for name, rows in document["categories"].items():
        for number, row in enumerate(rows, start=1):
            for field, value in row.items():
                writer.writerow([name, number, field, _cell(value)])
    return out.getvalue()
