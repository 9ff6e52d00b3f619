"""Re-screening after a sanctions import: recent deposits from newly listed sources are assessed
again, and a new hit holds what is left of the money, freezes the account and opens the case."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from aml.cases.models import Case
from aml.cases.money import case_hold_ids
from aml.models import Assessment
from aml.rescreen import deposits_from, rescreen_after_import
from aml.sanctions.services.imports import sanctions_import_run
from aml.sanctions.snapshot import holder
from aml.selectors import assessments_for_subject
from payments.models import Deposit, Hold, TopUp
from payments.selectors.ledger import balance_get
from payments.services.charges import charge_create
from payments.services.topups import topup_create
from tests.aml.factories import pay
from tests.aml.sanctions_support import DATA_DIR, LAZARUS_ETH

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
USDT = 10**6


def paid(client, network, amount: int, *, sender: str = LAZARUS_ETH) -> Deposit:
    topup = topup_create(client=client, network_code=network.code, amount=f"{amount}.00").topup
    return pay(topup, network, amount * USDT, sender=sender)


@pytest.fixture(autouse=True)
def fresh_lists():
    holder.reset()
    yield
    holder.reset()


def test_an_import_rescreens_recent_deposits_from_listed_sources(
    make_client, make_network, django_capture_on_commit_callbacks
):
    network = make_network("usdt-erc20", confirmations=1)
    client, bystander = make_client(), make_client()
    t = topup_create(client=client, network_code="usdt-erc20", amount="80.00").topup
    deposit = pay(t, network, 80 * USDT, sender=LAZARUS_ETH)  # before the list was imported: allowed
    clean = pay(
        topup_create(client=bystander, network_code="usdt-erc20", amount="30.00").topup, network, 30 * USDT
    )
    assert assessments_for_subject(f"deposit:{deposit.pk}")[0].decision == "allow"
    charge_create(client_id=client.pk, amount=Decimal("30.00"), currency="USD", description="VPS",
                  idempotency_key="spent-before")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        record = sanctions_import_run(paths=[DATA_DIR / "sanctioned_addresses_ETH.txt"])
    again = assessments_for_subject(f"deposit:{deposit.pk}")[0]
    assert (again.trigger, again.decision, again.sanctions_hit) == ("rescreen", "freeze", True)
    assert again.facts["cause"] == f"sanctions import #{record.pk}"
    assert again.facts["at"] == assessments_for_subject(f"deposit:{deposit.pk}")[1].facts["at"]  # as of then
    client.refresh_from_db()
    assert client.status == "frozen"
    case = Case.objects.get(client=client)
    assert (case.band, case.sanctions) == ("freeze", True)
    hold = Hold.objects.get(reference=f"deposit:{deposit.pk}")
    assert hold.amount == Decimal("50.00")  # 80 credited, 30 already spent: what is left is held
    assert case_hold_ids(case) == [hold.pk]  # the review dashboard finds it (release, refund)
    balance = balance_get(client=client)
    assert (balance.available, balance.held) == (Decimal("0.00"), Decimal("50.00"))
    assert TopUp.objects.get(pk=t.pk).review == "on_hold"
    assert [a.trigger for a in assessments_for_subject(f"deposit:{clean.pk}")] == ["event"]  # untouched
    assert not Case.objects.filter(client=bystander).exists()


def test_rescreening_twice_for_one_import_changes_nothing(make_client, make_network):
    network = make_network("usdt-erc20", confirmations=1)
    client = make_client()
    deposit = paid(client, network, 40)
    record = sanctions_import_run(paths=[DATA_DIR / "sanctioned_addresses_ETH.txt"])
    added = [("evm", LAZARUS_ETH.lower())]
    first = rescreen_after_import(import_id=record.pk, added=added)
    counts = (Assessment.objects.count(), Hold.objects.count(), Case.objects.count())
    assert [a.subject_ref for a in first] == [f"deposit:{deposit.pk}"]
    assert rescreen_after_import(import_id=record.pk, added=added) == []
    assert (Assessment.objects.count(), Hold.objects.count(), Case.objects.count()) == counts


def test_only_credited_deposits_of_the_last_90_days_are_rescreened(make_client, make_network):
    network = make_network("usdt-erc20", confirmations=1)
    client = make_client()
    recent = paid(client, network, 10)
    old = paid(client, network, 10)
    Deposit.objects.filter(pk=old.pk).update(credited_at=timezone.now() - timedelta(days=91))
    found = deposits_from([("evm", LAZARUS_ETH.lower())])
    assert list(found.values_list("pk", flat=True)) == [recent.pk]  # EVM compared case-insensitively
    assert not deposits_from([("tron", LAZARUS_ETH.lower())]).exists()  # base58 families compare exactly
