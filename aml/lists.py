"""Address look-ups for rules 1 and 2: the sanctions lists and the operator's deny list.

The lists belong to ``aml.sanctions`` (``sanctions_match(address)`` and ``denylist_match(address)``,
each returning a tuple of hits). This module is the engine's only door to them: it turns their
hits into ``ListHit`` rows the rules can describe, and never lets a failing list pass for a clean
one. A list whose look-up raises is reported in ``errors`` (the rule answers ``error``, and the
subject is held); a list that is not installed yet is ``None`` (the rule answers
``insufficient_data``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aml.rules.base import ListHit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lookups:
    sanctions: tuple[ListHit, ...] | None = None
    deny: tuple[ListHit, ...] | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _selector(name: str) -> Callable[[str], Any] | None:
    try:
        module = importlib.import_module("aml.sanctions.selectors")
    except ImportError:
        return None
    return getattr(module, name, None)


def _describe(found: Any) -> ListHit:
    list_name = str(getattr(found, "list_name", None) or getattr(found, "source", None) or "list")
    entry = str(
        getattr(found, "entity_name", None) or getattr(found, "name", None) or getattr(found, "address", "")
    )
    parts = [
        str(getattr(found, key)) for key in ("program", "listed_on", "reason") if getattr(found, key, None)
    ]
    return ListHit(list_name=list_name, entry=entry, detail=", ".join(parts))


def _one(name: str, address: str, errors: dict[str, str], key: str) -> tuple[ListHit, ...] | None:
    selector = _selector(name)
    if selector is None:
        return None
    try:
        return tuple(_describe(found) for found in selector(address))
    except Exception as exc:  # a broken list must hold the money, never wave it through
        logger.exception("%s failed for %s", name, address)
        errors[key] = f"{type(exc).__name__}: {exc}"[:200]
        return None


def lookups_for(address: str) -> Lookups:
    if not address:
        return Lookups()
    errors: dict[str, str] = {}
    sanctions = _one("sanctions_match", address, errors, "sanctions")
    deny = _one("denylist_match", address, errors, "deny")
    return Lookups(sanctions=sanctions, deny=deny, errors=errors)
