"""The rule catalogue: one small module per typology, listed here in the order they are stored.

Adding a rule: write ``aml/rules/<name>.py`` exposing ``RULE`` (see ``aml.rules.base.rule``), add
it to ``RULES`` below, document it in ``docs/aml.md``. A rule absent from the published rule set's
parameters does not run until a rule set that has it is published (four-eyes): new drafts get its
defaults (``aml.params.params_complete``).
"""

from __future__ import annotations

from aml.rules import (
    account_change_burst,
    amount_mismatch,
    deny_list,
    dormant,
    frozen_account,
    kyc_single_limit,
    kyc_volume,
    large_amount,
    many_sources,
    near_identical,
    new_account,
    rapid_in_out,
    rapid_succession,
    recent_account_change,
    sanctions_list,
    shared_source,
    structuring,
    unusual_charge,
    velocity,
)
from aml.rules.base import Rule

RULES: tuple[Rule, ...] = (
    sanctions_list.RULE,
    deny_list.RULE,
    structuring.RULE,
    velocity.RULE,
    rapid_succession.RULE,
    large_amount.RULE,
    new_account.RULE,
    dormant.RULE,
    many_sources.RULE,
    shared_source.RULE,
    near_identical.RULE,
    rapid_in_out.RULE,
    amount_mismatch.RULE,
    kyc_volume.RULE,
    unusual_charge.RULE,
    recent_account_change.RULE,
    kyc_single_limit.RULE,
    account_change_burst.RULE,
    frozen_account.RULE,
)
RULES_BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}
SANCTIONS_RULE = sanctions_list.RULE.name
