"""The client's history features: ONE SQL statement per assessment, every window at once.

The engine's cost is dominated by round trips to the database (an ORM query is ~0.9 ms here; a
raw one a fraction of that), so everything the rules need about the client's past is folded into
one statement built from fragments, with only the fragments the subject type needs:

* the client (opening time, status, KYC level), the published rule set's id (so the engine's
  per-process cache notices a newly published version at no extra cost), active snoozes;
* deposits (credited top-ups, valued in the account currency when credited): counts and sums in
  24 h / 72 h / 30 d / 91 d, the largest of 91 days, distinct source addresses of 24 h,
  near-identical amounts of 24 h, structuring band counts of 30 days for each KYC level's limit
  (the client's level is picked afterwards: no parameter-typed CASE), previous and first top-up,
  the quote of the top-up being paid and what earlier payments already brought to it;
* how many other clients the source address funded (capped at ``SOURCE_CLIENTS_CAP``, so an
  exchange's hot wallet costs the same as anyone's), as a scalar subquery on its own index (the
  ``sender <> ''`` repeats the partial index's predicate: without it a generic plan of the prepared
  statement cannot use the index and scans the table);
* charges: counts, sums and largest of 91 days, what was spent since the first top-up of the
  last 72 h, the last charge; account changes (from the assessments of ``account_change``
  subjects that were let through).

Windows end at ``as_of`` (exclusive) and exclude the subject itself, so the same statement
scores a live event, a backtest and a re-screen "as of" the original time. The indexes behind
it are in ``payments`` migration ``0008_aml_indexes`` (deposits by client and credit time,
deposits by source address).

On PostgreSQL each statement is prepared once per connection (``aml.sql``): planning it costs
more than running it. The SQL is portable between PostgreSQL and the SQLite demo database
(aggregate ``FILTER`` and no casts); values coming back from SQLite (text timestamps, float sums)
are normalised here, sums quantized to the currency's quantum as
``payments.selectors.ledger.exact_sum`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from aml.params import KYC_LEVELS, ParsedParams
from aml.rules.base import ACCOUNT_CHANGE, CHARGE, DEPOSIT, PAYOUT, Features, Subject
from aml.sql import run
from nexora.common.money import currency_quantum

SOURCE_CLIENTS_CAP = 100
_CHANGE_REFS = "(subject_ref LIKE %(ref_payout)s OR subject_ref LIKE %(ref_email)s)"

_COMMON = """
    p.created_at AS account_created_at, p.status AS account_status, p.currency AS account_currency,
    coalesce((SELECT level FROM aml_clientverification WHERE client_id = p.id), 'unverified') AS kyc_level,
    (SELECT id FROM aml_ruleset WHERE status = 'published') AS ruleset_id,
    (SELECT published_at FROM aml_ruleset WHERE status = 'published') AS ruleset_published_at,
    (SELECT {agg} FROM aml_rulesnooze WHERE client_id = p.id AND created_at <= %(as_of)s
        AND until > %(as_of)s) AS snoozed
"""
_DEPOSIT_WINDOWS = """
    count(*) FILTER (WHERE credited_at >= %(t24)s) AS topups_24h,
    count(*) FILTER (WHERE credited_at >= %(t30)s) AS topups_30d,
    count(*) AS topups_91d,
    sum(credited_amount) FILTER (WHERE credited_at >= %(t24)s) AS topup_sum_24h,
    sum(credited_amount) FILTER (WHERE credited_at >= %(t30)s) AS topup_sum_30d,
    sum(credited_amount) AS topup_sum_91d,
    max(credited_amount) AS topup_max_91d,
    count(DISTINCT sender) FILTER (WHERE credited_at >= %(t24)s AND sender <> '' AND sender <> %(sender)s)
        AS sources_24h,
    count(*) FILTER (WHERE credited_at >= %(t24)s AND credited_amount >= %(near_lo)s
                     AND credited_amount <= %(near_hi)s) AS near_identical_24h,
    {bands},
    min(credited_at) FILTER (WHERE credited_at >= %(t72)s) AS first_topup_72h_at,
    sum(credited_amount) FILTER (WHERE credited_at >= %(t72)s) AS topup_sum_72h
"""
_BAND = (
    "count(*) FILTER (WHERE credited_at >= %(t30)s AND credited_amount >= %(band_lo_{level})s "
    "AND credited_amount < %(band_hi_{level})s) AS band_{level}"
)
_DEPOSITS_OF_CLIENT = (
    "FROM payments_deposit WHERE client_id = %(client)s AND credited_at >= %(t91)s "
    "AND credited_at < %(as_of)s AND id <> %(exclude)s"
)
_DEPOSIT_POINTS = """
    (SELECT credited_at FROM payments_deposit WHERE client_id = p.id AND credited_at < %(as_of)s
        AND id <> %(exclude)s ORDER BY credited_at DESC LIMIT 1) AS last_topup_at,
    (SELECT credited_at FROM payments_deposit WHERE client_id = p.id AND credited_at < %(as_of)s
        AND id <> %(exclude)s ORDER BY credited_at ASC LIMIT 1) AS first_topup_at,
    (SELECT created_at FROM payments_charge WHERE client_id = p.id AND created_at < %(as_of)s
        ORDER BY created_at DESC LIMIT 1) AS last_charge_at,
    CASE WHEN %(sender)s = '' THEN NULL ELSE (SELECT count(*) FROM (
        SELECT DISTINCT client_id FROM payments_deposit WHERE sender = %(sender)s AND sender <> ''
            AND client_id <> p.id AND credited_at < %(as_of)s LIMIT {cap}) AS funded) END
        AS source_other_clients,
    (SELECT crypto_amount FROM payments_topup WHERE id = %(topup)s) AS topup_quoted_units,
    (SELECT coalesce(sum(amount), 0) FROM payments_deposit WHERE topup_id = %(topup)s
        AND status = 'credited' AND id <> %(exclude)s) AS topup_prior_units
"""
_CHARGES = """
    (SELECT count(*) FROM payments_charge WHERE client_id = p.id AND {charged}) AS charges_91d,
    (SELECT sum(amount) FROM payments_charge WHERE client_id = p.id AND {charged}) AS charge_sum_91d,
    (SELECT max(amount) FROM payments_charge WHERE client_id = p.id AND {charged}) AS charge_max_91d,
    (SELECT created_at FROM payments_charge WHERE client_id = p.id AND created_at < %(as_of)s
        ORDER BY created_at DESC LIMIT 1) AS last_charge_at
"""
_CHARGED = "created_at >= %(t91)s AND created_at < %(as_of)s AND status IN ('posted', 'pending_review')"
_PAYOUT = """
    (SELECT min(credited_at) FROM payments_deposit WHERE client_id = p.id AND credited_at >= %(t72)s
        AND credited_at < %(as_of)s) AS first_topup_72h_at,
    (SELECT sum(credited_amount) FROM payments_deposit WHERE client_id = p.id AND credited_at >= %(t72)s
        AND credited_at < %(as_of)s) AS topup_sum_72h,
    (SELECT sum(amount) FROM payments_charge WHERE client_id = p.id AND status IN ('posted', 'pending_review')
        AND created_at < %(as_of)s AND created_at >= (SELECT min(credited_at) FROM payments_deposit
            WHERE client_id = p.id AND credited_at >= %(t72)s AND credited_at < %(as_of)s))
        AS charged_since_72h_topup
"""
_CHANGES = """
    (SELECT count(*) FROM aml_assessment WHERE client_id = p.id AND subject_type = 'account_change'
        AND decision <> 'freeze' AND created_at >= %(t24)s AND created_at < %(as_of)s) AS account_changes_24h,
    (SELECT created_at FROM aml_assessment WHERE client_id = p.id AND subject_type = 'account_change'
        AND decision <> 'freeze' AND created_at < %(as_of)s AND {refs} ORDER BY created_at DESC LIMIT 1)
        AS last_account_change_at,
    (SELECT subject_ref FROM aml_assessment WHERE client_id = p.id AND subject_type = 'account_change'
        AND decision <> 'freeze' AND created_at < %(as_of)s AND {refs} ORDER BY created_at DESC LIMIT 1)
        AS last_account_change_ref
"""


def _snooze_agg() -> str:
    return "string_agg(rule, ',')" if connection.vendor == "postgresql" else "group_concat(rule, ',')"


def _sql(subject_type: str) -> str:
    columns = [_COMMON.format(agg=_snooze_agg())]
    joins = ""
    if subject_type == DEPOSIT:
        bands = ",\n    ".join(_BAND.format(level=level) for level in KYC_LEVELS)
        columns += ["d.*", _DEPOSIT_POINTS.format(cap=SOURCE_CLIENTS_CAP)]
        joins = f"CROSS JOIN (SELECT {_DEPOSIT_WINDOWS.format(bands=bands)} {_DEPOSITS_OF_CLIENT}) AS d"
    if subject_type == CHARGE:
        columns.append(_CHARGES.format(charged=_CHARGED))
    if subject_type == PAYOUT:
        columns.append(_PAYOUT)
    if subject_type in (CHARGE, PAYOUT, ACCOUNT_CHANGE):
        columns.append(_CHANGES.format(refs=_CHANGE_REFS))
    # Only fixed fragments of this module are joined: every value is a bound parameter.
    return f"SELECT {', '.join(columns)} FROM accounts_clientprofile AS p {joins} WHERE p.id = %(client)s"  # noqa: S608


def _bind(subject: Subject, params: ParsedParams, exclude: int | None) -> dict[str, Any]:
    at, amount = subject.at, subject.amount
    tolerance = params.rule_param("near_identical", "tolerance")
    band_low = params.rule_param("structuring", "band_low")
    values: dict[str, Any] = {
        "client": subject.client_id,
        "as_of": at,
        "t24": at - timedelta(hours=24),
        "t72": at - timedelta(hours=72),
        "t30": at - timedelta(days=30),
        "t91": at - timedelta(days=91),
        "exclude": exclude or -1,
        "sender": subject.counterparty,
        "topup": subject.topup_id or -1,
        "near_lo": None if amount is None else amount * (1 - tolerance),
        "near_hi": None if amount is None else amount * (1 + tolerance),
        "ref_payout": f"account:{subject.client_id}:payout_address",
        "ref_email": f"account:{subject.client_id}:email",
    }
    for level in KYC_LEVELS:
        limit = params.kyc[level].per_topup or Decimal(0)  # no limit: an empty band
        values[f"band_lo_{level}"], values[f"band_hi_{level}"] = limit * band_low, limit
    return values


@dataclass(frozen=True)
class History:
    features: Features
    seen: tuple[int | None, datetime | None]  # the published rule set: (id, published_at)


def _time(value: Any) -> datetime | None:
    """A timestamp as an aware UTC datetime: a raw cursor returns naive UTC values (the connection's
    time zone is UTC), and SQLite returns text."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Row:
    """Typed access to one result row, whatever the database returned."""

    def __init__(self, row: Mapping[str, Any], currency: str) -> None:
        self.row, self.quantum = row, currency_quantum(currency)

    def has(self, key: str) -> bool:
        return key in self.row

    def money(self, key: str, *, zero: bool = True) -> Decimal | None:
        value = self.row.get(key)
        if value is None:
            return Decimal(0).quantize(self.quantum) if zero else None
        return Decimal(str(value)).quantize(self.quantum)

    def count(self, key: str) -> int:
        return int(self.row.get(key) or 0)

    def units(self, key: str) -> int | None:
        value = self.row.get(key)
        return None if value is None else int(Decimal(str(value)))

    def time(self, key: str) -> datetime | None:
        return _time(self.row.get(key))


def _deposit_fields(r: _Row, level: str) -> dict[str, Any]:
    return {
        "topups_24h": r.count("topups_24h"),
        "topups_30d": r.count("topups_30d"),
        "topups_91d": r.count("topups_91d"),
        "topup_sum_24h": r.money("topup_sum_24h"),
        "topup_sum_30d": r.money("topup_sum_30d"),
        "topup_sum_91d": r.money("topup_sum_91d"),
        "topup_max_91d": r.money("topup_max_91d", zero=False),
        "sources_24h": r.count("sources_24h"),
        "near_identical_24h": r.count("near_identical_24h"),
        "structuring_band_30d": r.count(f"band_{level}"),
        "last_topup_at": r.time("last_topup_at"),
        "first_topup_at": r.time("first_topup_at"),
        "source_other_clients": None
        if r.row.get("source_other_clients") is None
        else r.count("source_other_clients"),
        "topup_quoted_units": r.units("topup_quoted_units"),
        "topup_prior_units": r.units("topup_prior_units"),
    }


def _other_fields(r: _Row) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if r.has("charges_91d"):
        fields.update(
            charges_91d=r.count("charges_91d"),
            charge_sum_91d=r.money("charge_sum_91d"),
            charge_max_91d=r.money("charge_max_91d", zero=False),
        )
    if r.has("last_charge_at"):
        fields["last_charge_at"] = r.time("last_charge_at")
    if r.has("charged_since_72h_topup"):
        fields.update(
            first_topup_72h_at=r.time("first_topup_72h_at"),
            topup_sum_72h=r.money("topup_sum_72h"),
            charged_since_72h_topup=r.money("charged_since_72h_topup"),
        )
    elif r.has("topup_sum_72h"):
        fields.update(first_topup_72h_at=r.time("first_topup_72h_at"), topup_sum_72h=r.money("topup_sum_72h"))
    if r.has("account_changes_24h"):
        ref = r.row.get("last_account_change_ref") or ""
        fields.update(
            account_changes_24h=r.count("account_changes_24h"),
            last_account_change_at=r.time("last_account_change_at"),
            last_account_change_field=ref.rsplit(":", 1)[-1] if ref else "",
        )
    return fields


# The result columns of each statement, read once per process: reading ``cursor.description`` builds
# a column object per column on every call, a measurable share of an assessment's CPU.
_columns: dict[str, list[str]] = {}


def history_features(
    *,
    subject: Subject,
    params: ParsedParams,
    exclude_deposit: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> History:
    """The client's history as of ``subject.at``; ``extra`` adds features from elsewhere (the list
    look-ups), so the features are built once."""
    with connection.cursor() as cursor:
        run(
            cursor, f"aml_history_{subject.type}", _sql(subject.type), _bind(subject, params, exclude_deposit)
        )
        names = _columns.get(subject.type) or _columns.setdefault(
            subject.type, [c[0] for c in cursor.description]
        )
        found = cursor.fetchone()
    if found is None:
        raise LookupError(f"client #{subject.client_id} does not exist")
    row = dict(zip(names, found, strict=True))
    r = _Row(row, row["account_currency"])  # sums are in the account currency
    level = r.row["kyc_level"]
    limits = params.kyc.get(level) or params.kyc["unverified"]
    fields: dict[str, Any] = {
        "as_of": subject.at,
        "account_created_at": r.time("account_created_at"),
        "account_status": r.row["account_status"],
        "kyc_level": level,
        "kyc_per_topup": limits.per_topup,
        "kyc_rolling_30d": limits.rolling_30d,
        "snoozed": frozenset(filter(None, (r.row.get("snoozed") or "").split(","))),
    }
    if subject.type == DEPOSIT:
        fields.update(_deposit_fields(r, level))
    fields.update(_other_fields(r))
    fields.update(extra or {})
    return History(features=Features(**fields), seen=(r.row["ruleset_id"], r.time("ruleset_published_at")))


_KYC_SNAPSHOT = """
SELECT coalesce((SELECT level FROM aml_clientverification WHERE client_id = %(client)s), 'unverified'),
       (SELECT sum(credited_amount) FROM payments_deposit
            WHERE client_id = %(client)s AND credited_at >= %(since)s),
       (SELECT id FROM aml_ruleset WHERE status = 'published'),
       (SELECT published_at FROM aml_ruleset WHERE status = 'published')
"""


@dataclass(frozen=True)
class KycSnapshot:
    level: str
    credited_30d: Decimal
    seen: tuple[int | None, datetime | None]


def kyc_snapshot(*, client_id: int, currency: str, as_of: datetime) -> KycSnapshot:
    """The client's level and credited top-ups of the 30 days before ``as_of``, in one query."""
    with connection.cursor() as cursor:
        run(
            cursor,
            "aml_kyc_snapshot",
            _KYC_SNAPSHOT,
            {"client": client_id, "since": as_of - timedelta(days=30)},
        )
        level, credited, ruleset_id, published_at = cursor.fetchone()
    r = _Row({"credited": credited}, currency)
    return KycSnapshot(level, r.money("credited") or Decimal(0), (ruleset_id, _time(published_at)))
