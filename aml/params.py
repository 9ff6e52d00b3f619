"""Rule set parameters: their shape, defaults, validation, merging and diffing.

A rule set's ``params`` JSON has three parts::

    {
      "bands": {"review": 40, "freeze": 100},
      "kyc": {"unverified": {"per_topup": "1000.00", "rolling_30d": "2000.00"},
              "basic": {"per_topup": "10000.00", "rolling_30d": "25000.00"},
              "full": {"per_topup": null, "rolling_30d": null}},
      "rules": {"velocity": {"enabled": true, "points": 25, "multiple": "3", ...}, ...}
    }

* ``bands``: a score at or above ``review`` holds the subject and opens a case; at or above
  ``freeze`` it also freezes the account.
* ``kyc``: the limits of each verification level, in the account currency (``null``: no limit).
  They live in the rule set (not a table of their own) so a change of limits is versioned,
  four-eyes published, and backtested like any other threshold.
* ``rules``: per rule, the parameters its module declares (``aml.rules.base.Param`` specs).

Money and ratios are decimal strings (never JSON floats). ``params_parse`` validates everything
and returns typed values; its errors name the path (``rules.velocity.points``) in ``fields``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aml.rules import RULES, RULES_BY_NAME
from aml.rules.base import DecimalParam, IntParam, ParamError
from nexora.common.errors import ValidationFailed

KYC_LEVELS = ("unverified", "basic", "full")
KYC_LIMITS = ("per_topup", "rolling_30d")
KYC_DEFAULTS: dict[str, dict[str, str | None]] = {
    "unverified": {"per_topup": "1000.00", "rolling_30d": "2000.00"},
    "basic": {"per_topup": "10000.00", "rolling_30d": "25000.00"},
    "full": {"per_topup": None, "rolling_30d": None},
}
BAND_SPECS = {"review": IntParam(40, low=1, high=10_000), "freeze": IntParam(100, low=1, high=10_000)}
KYC_SPEC = DecimalParam(None, low="0.01", nullable=True)


@dataclass(frozen=True)
class KycLimits:
    per_topup: Decimal | None
    rolling_30d: Decimal | None


@dataclass(frozen=True)
class ParsedParams:
    review: int
    freeze: int
    kyc: Mapping[str, KycLimits]
    rules: Mapping[str, Mapping[str, Any]]  # every known rule present in the params, parsed

    def enabled(self, name: str) -> bool:
        return bool(self.rules.get(name, {}).get("enabled"))

    def rule_param(self, name: str, param: str) -> Any:
        """A rule's parameter, falling back to its default (the history query needs some values
        even when the rule is off)."""
        values = self.rules.get(name) or {}
        if param in values:
            return values[param]
        return RULES_BY_NAME[name].all_params()[param].parse(RULES_BY_NAME[name].defaults()[param])


def default_params() -> dict[str, Any]:
    return {
        "bands": {name: spec.default for name, spec in BAND_SPECS.items()},
        "kyc": copy.deepcopy(KYC_DEFAULTS),
        "rules": {r.name: r.defaults() for r in RULES},
    }


def params_complete(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` plus the defaults of anything it lacks (a rule added to the code since): used when
    a draft is created, so the new rule shows up for review before it can run."""
    return params_merge(default_params(), raw)


def params_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: dicts merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = params_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def params_diff(
    before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = ""
) -> list[dict[str, Any]]:
    """Every leaf that differs, as ``{"path", "before", "after"}`` (``None`` where absent)."""
    changes: list[dict[str, Any]] = []
    for key in sorted(set(before) | set(after)):
        path = f"{prefix}{key}"
        old, new = before.get(key), after.get(key)
        if isinstance(old, Mapping) or isinstance(new, Mapping):
            changes += params_diff(
                old if isinstance(old, Mapping) else {}, new if isinstance(new, Mapping) else {}, f"{path}."
            )
        elif old != new or (key in before) != (key in after):
            changes.append({"path": path, "before": old, "after": new})
    return changes


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[dict[str, str]]] = {}

    def add(self, path: str, message: str, code: str = "invalid_parameter") -> None:
        self.fields.setdefault(path, []).append({"code": code, "message": message})

    def mapping(self, raw: Any, path: str, allowed: Any) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            self.add(path, "must be an object")
            return {}
        for key in set(raw) - set(allowed):
            self.add(f"{path}.{key}", "unknown parameter", code="unknown_parameter")
        return raw

    def parse(self, spec: Any, raw: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in raw:
            self.add(f"{path}.{key}", "is missing", code="missing_parameter")
            return None
        try:
            return spec.parse(raw[key])
        except ParamError as exc:
            self.add(f"{path}.{key}", str(exc))
            return None


def _parse_rule(errors: _Errors, name: str, raw: Any) -> dict[str, Any]:
    rule = RULES_BY_NAME[name]
    specs = rule.all_params()
    values = errors.mapping(raw, f"rules.{name}", specs)
    parsed = {key: errors.parse(spec, values, key, f"rules.{name}") for key, spec in specs.items()}
    if parsed.get("enabled") is False and not rule.can_disable:
        errors.add(f"rules.{name}.enabled", "this rule cannot be disabled")
    return parsed


def _parse_kyc(errors: _Errors, raw: Any) -> dict[str, KycLimits]:
    levels = errors.mapping(raw, "kyc", KYC_LEVELS)
    parsed = {}
    for level in KYC_LEVELS:
        values = errors.mapping(levels.get(level, {}), f"kyc.{level}", KYC_LIMITS)
        one, rolling = (errors.parse(KYC_SPEC, values, key, f"kyc.{level}") for key in KYC_LIMITS)
        if one is not None and rolling is not None and one > rolling:
            errors.add(f"kyc.{level}.per_topup", "cannot be above the 30-day limit")
        parsed[level] = KycLimits(one, rolling)
    return parsed


def params_parse(raw: Any) -> ParsedParams:
    """Validate a whole ``params`` document; ``ValidationFailed`` (``invalid_ruleset``) lists every
    problem by path, so an editor sees them all at once."""
    errors = _Errors()
    top = errors.mapping(raw, "params", ("bands", "kyc", "rules"))
    bands = errors.mapping(top.get("bands", {}), "bands", BAND_SPECS)
    review, freeze = (errors.parse(BAND_SPECS[key], bands, key, "bands") for key in ("review", "freeze"))
    if review is not None and freeze is not None and review >= freeze:
        errors.add("bands.freeze", "must be above the review band")
    kyc = _parse_kyc(errors, top.get("kyc", {}))
    rules_raw = errors.mapping(top.get("rules", {}), "rules", RULES_BY_NAME)
    rules = {
        name: _parse_rule(errors, name, value) for name, value in rules_raw.items() if name in RULES_BY_NAME
    }
    for rule in RULES:
        if not rule.can_disable and rule.name not in rules_raw:
            errors.add(f"rules.{rule.name}", "this rule cannot be left out", code="missing_parameter")
    if errors.fields:
        raise ValidationFailed(
            "The rule set's parameters are invalid.", code="invalid_ruleset", fields=errors.fields
        )
    return ParsedParams(review=review, freeze=freeze, kyc=kyc, rules=rules)
