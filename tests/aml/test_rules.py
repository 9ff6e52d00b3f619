"""Every rule on its own: hit, no hit and insufficient data, with the exact reason and points.

Rules are pure functions of (subject, features, params), so these tests need no database: the
features are what ``aml.history`` would have computed, the params the defaults of rule set v1.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aml.params import default_params, params_parse
from aml.rules import RULES, RULES_BY_NAME
from aml.rules.base import ACCOUNT_CHANGE, CHARGE, DEPOSIT, PAYOUT, Features, ListHit, RuleResult, Subject

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PARAMS = params_parse(default_params())
SENDER = "0x1111111111111111111111111111111111111111"


def deposit(amount: str = "100.00", **kw: Any) -> Subject:
    base = {"type": DEPOSIT, "ref": "deposit:1", "client_id": 7, "at": NOW, "currency": "USD",
            "amount": Decimal(amount), "network": "usdt-erc20", "counterparty": SENDER, "units": 100_000_000,
            "topup_id": 3, "deposit_id": 1}  # fmt: skip
    return Subject(**{**base, **kw})


def charge(amount: str = "50.00") -> Subject:
    return Subject(type=CHARGE, ref="charge:k1", client_id=7, at=NOW, currency="USD", amount=Decimal(amount))


def payout(amount: str = "100.00") -> Subject:
    return Subject(type=PAYOUT, ref="payout:7:usdt-erc20:0xabc", client_id=7, at=NOW, currency="USD",
                   amount=Decimal(amount), counterparty=SENDER)  # fmt: skip


def features(**kw: Any) -> Features:
    base: dict[str, Any] = {"as_of": NOW, "account_created_at": NOW - timedelta(days=400),
                            "kyc_per_topup": Decimal("1000.00"), "kyc_rolling_30d": Decimal("2000.00"),
                            "sanctions_hits": (), "deny_hits": ()}  # fmt: skip
    return Features(**{**base, **kw})


def run(name: str, subject: Subject, feats: Features, **params: Any) -> RuleResult:
    return RULES_BY_NAME[name].evaluate(subject, feats, {**PARAMS.rules[name], **params})


def outcome(result: RuleResult) -> tuple[str, int, str]:
    return result.outcome, result.points, result.reason


def test_the_catalogue_has_every_rule_of_the_issue_once():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names)) == 19
    assert {"sanctions_list", "deny_list", "structuring", "velocity", "rapid_succession", "large_amount",
            "new_account_large", "dormant_reactivation", "many_sources", "shared_source", "near_identical",
            "rapid_in_out", "amount_mismatch", "kyc_volume", "unusual_charge",
            "recent_account_change"} <= set(names)  # fmt: skip


# --- 1, 2: lists -------------------------------------------------------------------------------


def test_sanctions_list():
    listed = (ListHit("OFAC SDN", "Lazarus Group", "DPRK3, listed 2022-04-14"),)
    assert outcome(run("sanctions_list", deposit(), features(sanctions_hits=listed))) == (
        "hit", 100,
        f"The source address {SENDER} is on the sanctions list: "
        "OFAC SDN: Lazarus Group (DPRK3, listed 2022-04-14).",
    )  # fmt: skip
    assert outcome(run("sanctions_list", deposit(), features())) == (
        "no_hit",
        0,
        f"The source address {SENDER} is on no sanctions list.",
    )
    assert outcome(run("sanctions_list", deposit(counterparty=""), features())) == (
        "insufficient_data",
        0,
        "The source address is not known (several inputs, or none): it cannot be screened.",
    )
    assert outcome(run("sanctions_list", deposit(), features(sanctions_hits=None))) == (
        "insufficient_data",
        0,
        f"No sanctions list is loaded: the source address {SENDER} was not screened.",
    )
    failed = run("sanctions_list", payout(), features(lookup_errors={"sanctions": "OperationalError: gone"}))
    assert outcome(failed) == (
        "error",
        0,
        "The sanctions list could not be searched: OperationalError: gone.",
    )


def test_deny_list_and_which_account_changes_are_screened():
    listed = (ListHit("operator deny list", "chargeback fraud 2025"),)
    assert outcome(run("deny_list", payout(), features(deny_hits=listed))) == (
        "hit", 100,
        f"The payout destination {SENDER} is on the operator's deny list: "
        "operator deny list: chargeback fraud 2025.",
    )  # fmt: skip
    assert run("deny_list", payout(), features()).outcome == "no_hit"
    assert run("deny_list", deposit(counterparty=""), features()).outcome == "insufficient_data"
    rule = RULES_BY_NAME["deny_list"]
    email = Subject(
        type=ACCOUNT_CHANGE, ref="account:7:email", client_id=7, at=NOW, currency="", field="email"
    )
    assert not rule.applies(email) and rule.applies(replace(email, field="payout_address"))


# --- 3: structuring ----------------------------------------------------------------------------


def test_structuring():
    assert outcome(run("structuring", deposit("950.00"), features(structuring_band_30d=1))) == (
        "hit", 40,
        "2nd top-up in 30 days between 900.00 USD and 1,000.00 USD (90.0% to 100% of the unverified limit); "
        "threshold 2.",
    )  # fmt: skip
    assert outcome(run("structuring", deposit("950.00"), features(structuring_band_30d=0))) == (
        "no_hit", 0,
        "950.00 USD is between 900.00 USD and 1,000.00 USD (90.0% to 100% of the unverified limit), "
        "the first "
        "such top-up in 30 days; threshold 2.",
    )  # fmt: skip
    assert run("structuring", deposit("1000.00"), features(structuring_band_30d=3)).outcome == "no_hit"
    assert outcome(run("structuring", deposit("950.00"), features(structuring_band_30d=None))) == (
        "insufficient_data",
        0,
        "The client's top-ups of the last 30 days are not known.",
    )
    full = run("structuring", deposit("950.00"), features(kyc_level="full", kyc_per_topup=None))
    assert outcome(full) == (
        "no_hit",
        0,
        "No per-top-up limit at the full level: there is no threshold to stay under.",
    )


# --- 4, 5, 6: velocity, rapid succession, large amount -----------------------------------------


def test_velocity():
    settled = features(topups_24h=2, topups_91d=36, first_topup_at=NOW - timedelta(days=200))
    assert outcome(run("velocity", deposit(), settled)) == (
        "hit",
        25,
        "3rd top-up in 24 h; client's usual is 0.4 per day (threshold 1.2, at least 3).",
    )
    calm = features(topups_24h=1, topups_91d=36, first_topup_at=NOW - timedelta(days=200))
    assert outcome(run("velocity", deposit(), calm)) == (
        "no_hit",
        0,
        "2nd top-up in 24 h; client's usual is 0.4 per day (threshold 1.2, at least 3).",
    )
    new = features(topups_24h=4, topups_91d=4, first_topup_at=NOW - timedelta(days=2))
    assert outcome(run("velocity", deposit(), new)) == (
        "hit", 25,
        "5th top-up in 24 h from a client with 2 days of history; the limit for new clients is 5 in 24 h.",
    )  # fmt: skip
    assert outcome(run("velocity", deposit(), features())) == (
        "insufficient_data",
        0,
        "First top-up of this client: there is no usual rate to compare with.",
    )


def test_rapid_succession():
    assert outcome(
        run("rapid_succession", deposit(), features(last_topup_at=NOW - timedelta(seconds=150)))
    ) == ("hit", 15, "Top-up 2 min 30 s after the previous one (threshold 5 min).")
    assert outcome(run("rapid_succession", deposit(), features(last_topup_at=NOW - timedelta(hours=3)))) == (
        "no_hit",
        0,
        "Previous top-up 3 h earlier (threshold 5 min).",
    )
    assert outcome(run("rapid_succession", deposit(), features())) == (
        "insufficient_data",
        0,
        "First top-up of this client: there is no previous one to compare with.",
    )


def test_large_amount():
    assert outcome(run("large_amount", deposit("500.00"), features(topup_max_91d=Decimal("200.00")))) == (
        "hit", 20,
        "500.00 USD is 2.5x the client's largest top-up of the last 91 days (200.00 USD); threshold 1.5x, "
        "at least 100.00 USD.",
    )  # fmt: skip
    assert (
        run("large_amount", deposit("300.00"), features(topup_max_91d=Decimal("200.00"))).outcome == "no_hit"
    )
    assert run("large_amount", deposit("90.00"), features(topup_max_91d=Decimal("20.00"))).outcome == "no_hit"
    assert outcome(run("large_amount", deposit(), features())) == (
        "insufficient_data",
        0,
        "No top-up in the last 91 days: there is no largest amount to compare with.",
    )


# --- 7, 8: new and dormant accounts -------------------------------------------------------------


def test_new_account_large():
    young = features(account_created_at=NOW - timedelta(hours=3))
    assert outcome(run("new_account_large", deposit("1500.00"), young)) == (
        "hit",
        25,
        "First top-up, 1,500.00 USD, on an account opened 3 h ago (thresholds 1,000.00 USD within 24 h).",
    )
    assert outcome(run("new_account_large", deposit("1500.00"), replace(young, last_topup_at=NOW))) == (
        "no_hit",
        0,
        "Not the client's first top-up (thresholds 1,000.00 USD within 24 h).",
    )
    assert run("new_account_large", deposit("999.99"), young).outcome == "no_hit"
    assert outcome(run("new_account_large", deposit(), features(account_created_at=None))) == (
        "insufficient_data",
        0,
        "The account's opening time or the amount is not known.",
    )


def test_dormant_reactivation():
    idle = features(last_topup_at=NOW - timedelta(days=120), last_charge_at=NOW - timedelta(days=95))
    assert outcome(run("dormant_reactivation", deposit("2000.00"), idle)) == (
        "hit",
        20,
        "2,000.00 USD after 95 days without a top-up or charge (thresholds 90 days, 1,000.00 USD).",
    )
    busy = features(last_topup_at=NOW - timedelta(days=120), last_charge_at=NOW - timedelta(days=3))
    assert outcome(run("dormant_reactivation", deposit("2000.00"), busy)) == (
        "no_hit",
        0,
        "2,000.00 USD after 3 days without a top-up or charge (thresholds 90 days, 1,000.00 USD).",
    )
    assert outcome(run("dormant_reactivation", deposit("2000.00"), features())) == (
        "insufficient_data",
        0,
        "No earlier top-up or charge: there is no activity to have been dormant from.",
    )


# --- 9, 10, 11: sources and amounts -------------------------------------------------------------


def test_many_sources():
    assert outcome(run("many_sources", deposit(), features(sources_24h=4))) == (
        "hit",
        25,
        "5 distinct source addresses in 24 h, this one included (threshold 5).",
    )
    assert run("many_sources", deposit(), features(sources_24h=3)).outcome == "no_hit"
    assert outcome(run("many_sources", deposit(counterparty=""), features())) == (
        "insufficient_data",
        0,
        "The source address is not known (several inputs): sources cannot be counted.",
    )


def test_shared_source():
    assert outcome(run("shared_source", deposit(), features(source_other_clients=2))) == (
        "hit", 25,
        f"The source address {SENDER} funded 3 clients, this one included (threshold 2). "
        "Possibly a third party's payment means.",
    )  # fmt: skip
    assert outcome(run("shared_source", deposit(), features(source_other_clients=0))) == (
        "no_hit",
        0,
        f"The source address {SENDER} funded 1 client, this one included (threshold 2).",
    )
    assert run("shared_source", deposit(counterparty=""), features()).outcome == "insufficient_data"
    assert outcome(run("shared_source", deposit(), features(source_other_clients=None))) == (
        "insufficient_data",
        0,
        f"It is not known which clients {SENDER} funded.",
    )


def test_near_identical():
    assert outcome(run("near_identical", deposit("99.50"), features(near_identical_24h=4))) == (
        "hit",
        25,
        "5th top-up within 1.0% of 99.50 USD in 24 h (threshold 5).",
    )
    assert run("near_identical", deposit("99.50"), features(near_identical_24h=3)).outcome == "no_hit"
    assert outcome(run("near_identical", deposit(), features(near_identical_24h=None))) == (
        "insufficient_data",
        0,
        "The client's top-ups of the last 24 h are not known.",
    )


# --- 12, 13, 14: in-out, mismatch, KYC volume ---------------------------------------------------


def test_rapid_in_out():
    recent = features(first_topup_72h_at=NOW - timedelta(hours=20), topup_sum_72h=Decimal("500.00"),
                      charged_since_72h_topup=Decimal("10.00"))  # fmt: skip
    assert outcome(run("rapid_in_out", payout("480.00"), recent)) == (
        "hit", 40,
        "Payout of 480.00 USD requested 20 h after a top-up; 500.00 USD topped up in 72 h, "
        "10.00 USD spent since "
        "(spending under 10.0% counts as none).",
    )  # fmt: skip
    assert run(
        "rapid_in_out", payout(), replace(recent, charged_since_72h_topup=Decimal("60.00"))
    ).outcome == ("no_hit")
    assert outcome(run("rapid_in_out", payout(), features())) == (
        "no_hit",
        0,
        "No top-up in the 72 h before this request.",
    )
    assert outcome(run("rapid_in_out", payout(), features(charged_since_72h_topup=None))) == (
        "insufficient_data",
        0,
        "The client's top-ups and charges of the last 72 h are not known.",
    )


def test_amount_mismatch():
    quoted = features(topup_quoted_units=100_000_000, topup_prior_units=0)
    late_and_short = run("amount_mismatch", deposit(units=90_000_000, late=True), quoted)
    assert outcome(late_and_short) == (
        "hit",
        20,
        "Underpaid by 10.0%; paid after the quote window (tolerance 2.0%).",
    )
    assert outcome(run("amount_mismatch", deposit(units=110_000_000), quoted)) == (
        "hit",
        10,
        "Overpaid by 10.0% (tolerance 2.0%).",
    )
    assert outcome(run("amount_mismatch", deposit(units=99_000_000), quoted)) == (
        "no_hit",
        0,
        "Paid 1.0% under the quote, inside the quote window (tolerance 2.0%).",
    )
    assert outcome(run("amount_mismatch", deposit(topup_id=None), features())) == (
        "insufficient_data",
        0,
        "The payment has no quote to be compared with.",
    )


def test_kyc_volume():
    assert outcome(run("kyc_volume", deposit("600.00"), features(topup_sum_30d=Decimal("1500.00")))) == (
        "hit",
        40,
        "2,100.00 USD topped up in 30 days with this one; the unverified 30-day limit is 2,000.00 USD.",
    )
    assert (
        run("kyc_volume", deposit("500.00"), features(topup_sum_30d=Decimal("1500.00"))).outcome == "no_hit"
    )
    assert outcome(run("kyc_volume", deposit(), features(topup_sum_30d=None))) == (
        "insufficient_data",
        0,
        "The client's top-ups of the last 30 days are not known.",
    )


# --- 15, 16, 17, 18 ---------------------------------------------------------------------------


def test_unusual_charge():
    usual = features(charges_91d=6, charge_sum_91d=Decimal("120.00"))
    assert outcome(run("unusual_charge", charge("250.00"), usual)) == (
        "hit", 25,
        "Charge of 250.00 USD is 12.5x the client's average charge of 20.00 USD over 91 days "
        "(threshold 5.0x, "
        "at least 100.00 USD).",
    )  # fmt: skip
    assert run("unusual_charge", charge("90.00"), usual).outcome == "no_hit"
    assert outcome(
        run("unusual_charge", charge(), features(charges_91d=2, charge_sum_91d=Decimal("40")))
    ) == (
        "insufficient_data",
        0,
        "2 charges in the last 91 days: too few to know the usual spending (needs 3).",
    )


def test_recent_account_change():
    changed = features(
        last_account_change_at=NOW - timedelta(hours=2),
        last_account_change_field="payout_address",
        account_changes_24h=1,
    )
    assert outcome(run("recent_account_change", charge(), changed)) == (
        "hit",
        25,
        "The account's payout address changed 2 h ago (threshold 24 h).",
    )
    old = replace(changed, last_account_change_at=NOW - timedelta(days=3))
    assert outcome(run("recent_account_change", charge(), old)) == (
        "no_hit",
        0,
        "No change of payout address or e-mail in the last 24 h.",
    )
    assert run("recent_account_change", charge(), features(account_changes_24h=None)).outcome == (
        "insufficient_data"
    )


def test_kyc_single_limit():
    assert outcome(run("kyc_single_limit", deposit("1200.00"), features())) == (
        "hit",
        40,
        "1,200.00 USD in one top-up; the unverified per-top-up limit is 1,000.00 USD.",
    )
    assert run("kyc_single_limit", deposit("1000.00"), features()).outcome == "no_hit"
    assert outcome(run("kyc_single_limit", deposit(), features(kyc_level=None))) == (
        "insufficient_data",
        0,
        "The amount of this top-up or the client's verification level is not known.",
    )


def test_account_change_burst():
    change = Subject(
        type=ACCOUNT_CHANGE, ref="account:7:email", client_id=7, at=NOW, currency="", field="email"
    )
    assert outcome(run("account_change_burst", change, features(account_changes_24h=2))) == (
        "hit",
        40,
        "3rd account change in 24 h (threshold 3).",
    )
    assert run("account_change_burst", change, features(account_changes_24h=0)).outcome == "no_hit"
    assert (
        run("account_change_burst", change, features(account_changes_24h=None)).outcome == "insufficient_data"
    )


def test_frozen_account():
    assert outcome(run("frozen_account", deposit(), features(account_status="frozen"))) == (
        "hit",
        40,
        "The account is frozen: this money joins its review.",
    )
    assert outcome(run("frozen_account", deposit(), features())) == ("no_hit", 0, "The account is active.")
    assert run("frozen_account", deposit(), features(account_status=None)).outcome == "insufficient_data"


HISTORY_FIELDS = (
    "topups_24h",
    "topups_30d",
    "topups_91d",
    "topup_sum_24h",
    "topup_sum_30d",
    "topup_sum_91d",
    "sources_24h",
    "near_identical_24h",
    "structuring_band_30d",
    "topup_sum_72h",
    "charged_since_72h_topup",
    "charges_91d",
    "charge_sum_91d",
    "account_changes_24h",
    "source_other_clients",
    "topup_quoted_units",
    "topup_prior_units",
)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_every_rule_says_insufficient_data_when_its_history_is_missing(rule):
    """No rule guesses: with every history feature unknown, each answers insufficient_data."""
    missing: dict[str, Any] = dict.fromkeys(HISTORY_FIELDS)
    unknown = Features(as_of=NOW, account_created_at=None, account_status=None, kyc_level=None, **missing)
    subject = {DEPOSIT: deposit(), CHARGE: charge(), PAYOUT: payout()}.get(
        min(rule.subjects),
        Subject(type=ACCOUNT_CHANGE, ref="account:7:payout_address", client_id=7, at=NOW, currency="",
                field="payout_address", counterparty=SENDER),
    )  # fmt: skip
    result = rule.evaluate(subject, unknown, PARAMS.rules[rule.name])
    assert result.outcome == "insufficient_data", result.reason
    assert result.points == 0
