"""``ChainAmountField``: integer base units of a chain asset (wei, sun, satoshi), exact everywhere.

On PostgreSQL the column is ``NUMERIC(78,0)`` (a uint256 has 78 digits). SQLite (the embedded
demo) has no exact type that wide: its NUMERIC affinity silently turns anything above 2**63 into a
float, and 50 USDT on BSC (18 decimals) is 5e19. There the value is stored as text, which is
exact; code that sums chain amounts does it in Python (a top-up has a handful of deposits).
Python always sees an ``int``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

MAX_DIGITS = 78


class ChainAmountField(models.Field):
    description = "Non-negative integer amount in chain base units"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        if connection.vendor == "postgresql":
            return f"numeric({MAX_DIGITS},0)"
        return "text"

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"chain amounts are int base units, not {type(value).__name__}")
        return value

    def get_db_prep_value(self, value: Any, connection: BaseDatabaseWrapper, prepared: bool = False) -> Any:
        value = value if prepared else self.get_prep_value(value)
        if value is None or connection.vendor == "postgresql":
            return value
        return str(value)

    def from_db_value(self, value: Any, expression: Any, connection: BaseDatabaseWrapper) -> int | None:
        return None if value is None else int(value)

    def to_python(self, value: Any) -> int | None:
        if value is None or isinstance(value, int):
            return value
        return int(str(value))
