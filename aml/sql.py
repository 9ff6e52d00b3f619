"""Running the engine's hot-path SQL: prepared once per connection on PostgreSQL.

The history statement (``aml.history``) has a dozen subqueries; planning it costs more than running
it (~2 ms against ~0.5 ms here), and Django binds parameters on the client, so PostgreSQL plans it
again on every call. ``run(cursor, name, sql, values)`` therefore ``PREPARE``s each named statement
once per database connection (parameter types are inferred by PostgreSQL from the columns they
meet) and then ``EXECUTE``s it, which lets PostgreSQL settle on a generic plan after a few runs.

* ``PREPARE`` is not transactional: a statement prepared inside a transaction that rolls back
  stays prepared, so the per-connection bookkeeping (keyed by the driver connection object, which a
  reconnect replaces) cannot drift from the server's.
* SQLite (the embedded demo), and deployments behind a pooler that does not keep session state
  (PgBouncer in transaction mode), run the plain statement: ``NEXORA_AML_PREPARED_SQL=off``.

``sql`` uses ``%(name)s`` placeholders; they are numbered ``$1..$n`` in the order of ``values``
(values the statement does not use are left out).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db import connection

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_prepared: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()


@dataclass(frozen=True)
class _Statement:
    names: tuple[str, ...]  # the parameters in ``$n`` order
    prepare: str
    execute: str


_statements: dict[str, _Statement] = {}


def _statement(name: str, sql: str, values: Mapping[str, Any]) -> _Statement:
    """The PREPARE and EXECUTE texts of ``name``, worked out once per process."""
    found = _statements.get(name)
    if found is None:
        names = tuple(n for n in values if f"%({n})s" in sql)  # an unused parameter would have no type
        position = {n: index for index, n in enumerate(names, start=1)}
        numbered = _PLACEHOLDER.sub(lambda m: f"${position[m[1]]}", sql)
        found = _Statement(
            names, f"PREPARE {name} AS {numbered}", f"EXECUTE {name} ({', '.join(['%s'] * len(names))})"
        )
        _statements[name] = found
    return found


def run(cursor: Any, name: str, sql: str, values: Mapping[str, Any]) -> None:
    """Execute ``sql`` with ``values`` on ``cursor``, as the prepared statement ``name`` where possible.
    One ``name`` always stands for one ``sql`` text."""
    if connection.vendor != "postgresql" or not settings.NEXORA_AML_PREPARED_SQL:
        cursor.execute(sql, values)
        return
    statement = _statement(name, sql, values)
    done = _prepared.setdefault(connection.connection, set())
    if name not in done:
        cursor.execute(statement.prepare)
        done.add(name)
    cursor.execute(statement.execute, [values[n] for n in statement.names])
