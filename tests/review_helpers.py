"""Builders shared by the refund, document and case-file tests: money held for review, and its case.

``held_deposit`` pays a top-up on the in-memory chain while a screener asks for review, so the
deposit is credited into ``held`` through the real deposit services (a hold sourced from deposits).
``review_case`` writes the assessment the AML engine would and opens the case through the case core.
"""

from __future__ import annotations

from decimal import Decimal

from aml.cases.models import Case
from aml.cases.services import case_open_or_join
from aml.models import Assessment, RuleOutcome, RuleSet
from aml.rulesets import ruleset_seed_default
from nexora.accounts.models import ClientProfile
from payments.addresses import evm_checksum
from payments.hooks import Verdict, screener_register, screener_unregister
from payments.models import Deposit, Network
from payments.services.deposits import deposit_observe
from payments.services.topups import topup_create
from tests.payments.memory_chain import MemoryChain, memory_chain

SENDER = evm_checksum(bytes(range(1, 21)))  # the client's own wallet in these tests
OTHER = evm_checksum(bytes(range(101, 121)))


def _review(fact: object) -> Verdict:
    return Verdict.REVIEW


def held_deposit(
    client: ClientProfile, network: Network, *, amount: str = "50.00", sender: str = SENDER
) -> tuple[Deposit, MemoryChain]:
    """A top-up of ``amount`` paid in full from ``sender``, confirmed, and credited into ``held``."""
    topup = topup_create(client=client, network_code=network.code, amount=amount).topup
    chain = memory_chain(network)
    transfer = chain.pay(topup.address.address, topup.crypto_amount, sender=sender)
    chain.mine(network.confirmations)
    mined = next(t for _, txs in chain.blocks for t in txs if t.tx_hash == transfer.tx_hash)
    screener_register("deposit_confirmed", _review)
    try:
        deposit_observe(network=network, transfer=mined, head=chain.head())
    finally:
        screener_unregister("deposit_confirmed", _review)
    deposit = Deposit.objects.select_related("hold").get(tx_hash=transfer.tx_hash)
    assert deposit.status == "credited" and deposit.hold is not None
    return deposit, chain


def ruleset() -> RuleSet:
    ruleset_seed_default()  # migration aml.0003's version 1 (again, if a transactional test flushed it)
    return RuleSet.objects.get(status="published")


def review_case(client: ClientProfile, deposit: Deposit, *, sanctions: bool = False) -> Case:
    """The case the AML engine would open for ``deposit``, with one rule hit explained."""
    assessment = Assessment.objects.create(
        subject_type="deposit", subject_ref=f"deposit:{deposit.pk}", client=client, ruleset=ruleset(),
        amount=deposit.credited_amount, currency=client.currency, score=70, decision="review",
        sanctions_hit=sanctions, summary="large first deposit from a new address",
    )  # fmt: skip
    RuleOutcome.objects.create(
        assessment=assessment, rule="first_deposit_size", outcome="hit", points=70,
        reason="First deposit of 50.00 USD is above the 40.00 USD threshold.",
        data={"amount": "50.00", "threshold": "40.00"},
    )  # fmt: skip
    return case_open_or_join(client=client, assessment=assessment)


def money(value: str) -> Decimal:
    return Decimal(value)
