"""The AML engine's records in the personal-data registry (``nexora.privacy.registry``).

Assessments and their rule outcomes are kept for the AML period (5 years: ``aml``) and are
**kept after it**, as rows, with the person anonymised instead (the ledger's approach):

* they are the explanation of every decision the engine took (invariant 7: never edited), the
  record an auditor asks for and the data that rule tuning and the decision counts on ``/metrics``
  rest on; deleting them would leave holds and releases in the ledger without their reason;
* what makes them personal data is the link to a client: once every financial and AML record of a
  closed account is past its period the retention purge anonymises the person in the profile, and
  the rows then describe "client #42". Their own texts (reasons with the numbers behind them, the
  summary) quote chain addresses and amounts, which are public on the chain; staff must not write
  names or contact data into them. A jurisdiction that requires more can add an anonymising step
  here; the tables' append-only triggers would then need an exception like the purge's.

They are ``disclosed=False``: never named to the client, neither in their copy nor in the erasure
summary (no tipping-off: invariant 8; docs/privacy.md has the legal basis). Their period still
keeps the person's name attributable. The clock is the assessment's time; an assessment in a case
is also held by the case's own category, whose clock is the case's closure.
"""

from __future__ import annotations

from nexora.privacy.registry import BASIS_AML, Action, category_register


def categories_register() -> None:
    category_register(
        name="aml.assessments", model="aml.Assessment", owner="client", clock="created_at",
        period="aml", action=Action.KEEP, title="AML assessments", basis=BASIS_AML, disclosed=False,
    )  # fmt: skip
    category_register(
        name="aml.rule_outcomes", model="aml.RuleOutcome", owner="assessment__client",
        clock="assessment__created_at", period="aml", action=Action.KEEP, title="AML rule outcomes",
        basis=BASIS_AML, disclosed=False,
    )  # fmt: skip
