"""What every rule is made of: the subject, the client's history features, parameters, the result.

A rule is a pure function ``evaluate(subject, features, params) -> RuleResult``: no database, no
clock, no settings. Everything it may look at is handed to it:

* ``Subject``: the facts of the one thing being screened (a deposit about to be credited, a
  charge about to be debited, a payout request, an account change), amounts in the account
  currency as valued at the time of the event;
* ``Features``: the client's history as of the subject's time, computed by ONE aggregate query
  (``aml.history``) plus the list look-ups that cannot be folded into it. A field is ``None``
  when that piece of history is not known; a rule that needs it answers ``insufficient_data``
  (never a guess, never a silent "clean");
* ``params``: the rule's parameters from the rule set in force, already parsed (ints, Decimals).

A ``Rule`` declares its name, the subject types it screens, and its parameters (``Param`` specs,
with defaults, bounds and types; every rule has ``enabled`` and ``points``). The rule set
validation (``aml.params``) is generated from these specs, so a parameter exists in exactly one
place. Money parameters are decimal strings in JSON: a float never enters a money path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aml.models import Outcome

DEPOSIT, CHARGE, PAYOUT, ACCOUNT_CHANGE = "deposit", "charge", "payout", "account_change"


@dataclass(frozen=True)
class Subject:
    """The facts of one screened subject. ``counterparty`` is the deposit's source address, the
    payout's destination, or the new payout address of an account change ("" when unknown)."""

    type: str
    ref: str
    client_id: int
    at: datetime
    currency: str
    amount: Decimal | None = None
    network: str = ""
    counterparty: str = ""
    units: int | None = None
    topup_id: int | None = None
    deposit_id: int | None = None
    late: bool = False
    field: str = ""
    detail: str = ""
    cause: str = ""  # why it is screened again (e.g. "sanctions import #12"); "" for the event

    def facts(self) -> dict[str, Any]:
        """JSON-safe facts, stored on the assessment so a backtest can re-score it later."""
        return {
            "type": self.type,
            "ref": self.ref,
            "client_id": self.client_id,
            "at": self.at.isoformat(),
            "currency": self.currency,
            "amount": None if self.amount is None else str(self.amount),
            "network": self.network,
            "counterparty": self.counterparty,
            "units": None if self.units is None else str(self.units),
            "topup_id": self.topup_id,
            "deposit_id": self.deposit_id,
            "late": self.late,
            "field": self.field,
            "detail": self.detail,
            "cause": self.cause,
        }

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> Subject:
        return cls(
            type=facts["type"],
            ref=facts["ref"],
            client_id=int(facts["client_id"]),
            at=datetime.fromisoformat(facts["at"]),
            currency=facts["currency"],
            amount=None if facts.get("amount") is None else Decimal(facts["amount"]),
            network=facts.get("network", ""),
            counterparty=facts.get("counterparty", ""),
            units=None if facts.get("units") is None else int(facts["units"]),
            topup_id=facts.get("topup_id"),
            deposit_id=facts.get("deposit_id"),
            late=bool(facts.get("late")),
            field=facts.get("field", ""),
            detail=facts.get("detail", ""),
            cause=facts.get("cause", ""),
        )


@dataclass(frozen=True)
class ListHit:
    """One match of an address on a list (sanctions or the operator's deny list), staff-facing."""

    list_name: str
    entry: str
    detail: str = ""


@dataclass(frozen=True)
class Features:
    """The client's history as of ``as_of`` (the subject itself excluded). ``None``: not known.

    "Top-ups" are credited deposits (their fiat value when credited, in the account currency);
    "charges" are posted or held charges. Windows end at ``as_of``.
    """

    as_of: datetime
    account_created_at: datetime | None = None
    account_status: str | None = "active"
    kyc_level: str | None = "unverified"  # None: not known
    kyc_per_topup: Decimal | None = None
    kyc_rolling_30d: Decimal | None = None
    topups_24h: int | None = 0
    topups_30d: int | None = 0
    topups_91d: int | None = 0
    topup_sum_24h: Decimal | None = Decimal("0")
    topup_sum_30d: Decimal | None = Decimal("0")
    topup_sum_91d: Decimal | None = Decimal("0")
    topup_max_91d: Decimal | None = None
    first_topup_at: datetime | None = None
    last_topup_at: datetime | None = None
    sources_24h: int | None = 0  # distinct known source addresses other than this subject's
    near_identical_24h: int | None = 0
    structuring_band_30d: int | None = 0
    first_topup_72h_at: datetime | None = None
    topup_sum_72h: Decimal | None = Decimal("0")
    charged_since_72h_topup: Decimal | None = Decimal("0")
    charges_91d: int | None = 0
    charge_sum_91d: Decimal | None = Decimal("0")
    charge_max_91d: Decimal | None = None
    last_charge_at: datetime | None = None
    last_account_change_at: datetime | None = None  # of the payout address or e-mail
    last_account_change_field: str = ""
    account_changes_24h: int | None = 0
    source_other_clients: int | None = None
    topup_quoted_units: int | None = None
    topup_prior_units: int | None = None
    sanctions_hits: tuple[ListHit, ...] | None = None  # None: no list loaded
    deny_hits: tuple[ListHit, ...] | None = None
    lookup_errors: Mapping[str, str] = field(default_factory=dict)  # list name -> why it failed
    snoozed: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class RuleResult:
    outcome: str
    points: int
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


def hit(points: int, reason: str, **data: Any) -> RuleResult:
    return RuleResult(Outcome.HIT, points, reason, data)


def no_hit(reason: str, **data: Any) -> RuleResult:
    return RuleResult(Outcome.NO_HIT, 0, reason, data)


def insufficient(reason: str, **data: Any) -> RuleResult:
    return RuleResult(Outcome.INSUFFICIENT_DATA, 0, reason, data)


def error(reason: str, **data: Any) -> RuleResult:
    return RuleResult(Outcome.ERROR, 0, reason, data)


class ParamError(ValueError):
    """A parameter value that does not fit its spec (message says why)."""


@dataclass(frozen=True)
class IntParam:
    default: int
    low: int = 0
    high: int = 1_000_000
    help: str = ""

    def parse(self, raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ParamError("must be a whole number")
        if not self.low <= raw <= self.high:
            raise ParamError(f"must be between {self.low} and {self.high}")
        return raw

    def dump(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class DecimalParam:
    """A decimal (money in the account currency, or a ratio), stored as a string in JSON."""

    default: str | None
    low: str = "0"
    high: str = "1000000000"
    nullable: bool = False
    help: str = ""

    def parse(self, raw: Any) -> Decimal | None:
        if raw is None and self.nullable:
            return None
        if isinstance(raw, (bool, float)) or not isinstance(raw, (str, int)):
            raise ParamError('must be a decimal string, e.g. "1000.00"')
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ParamError('must be a decimal string, e.g. "1000.00"') from None
        if not value.is_finite() or not Decimal(self.low) <= value <= Decimal(self.high):
            raise ParamError(f"must be between {self.low} and {self.high}")
        return value

    def dump(self, value: Any) -> Any:
        return None if value is None else str(value)


@dataclass(frozen=True)
class BoolParam:
    default: bool
    help: str = ""

    def parse(self, raw: Any) -> bool:
        if not isinstance(raw, bool):
            raise ParamError("must be true or false")
        return raw

    def dump(self, value: Any) -> Any:
        return value


Param = IntParam | DecimalParam | BoolParam
Evaluate = Callable[[Subject, Features, Mapping[str, Any]], RuleResult]


def _always(subject: Subject) -> bool:
    return True


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    subjects: frozenset[str]
    params: Mapping[str, Param]
    evaluate: Evaluate
    applies: Callable[[Subject], bool] = _always
    snoozable: bool = True
    can_disable: bool = True

    def all_params(self) -> dict[str, Param]:
        return {"enabled": BoolParam(True), **self.params}

    def defaults(self) -> dict[str, Any]:
        return {name: spec.default for name, spec in self.all_params().items()}


def rule(
    name: str,
    title: str,
    *,
    subjects: set[str],
    points: int,
    applies: Callable[[Subject], bool] = _always,
    snoozable: bool = True,
    can_disable: bool = True,
    **params: Param,
) -> Callable[[Evaluate], Rule]:
    """Decorator turning an ``evaluate`` function into a ``Rule`` with its parameter specs."""

    def wrap(fn: Evaluate) -> Rule:
        specs: dict[str, Param] = {**params, "points": IntParam(points, high=1000, help="points on a hit")}
        return Rule(name, title, frozenset(subjects), specs, fn, applies, snoozable, can_disable)

    return wrap
