"""The money a case is about, found from its assessments' subjects (reads only).

An assessment names its subject without a foreign key (``aml.models``): ``deposit:<id>``,
``charge:<idempotency key>``, ``payout:<id>``, ``account:<client id>:<field>``. From those this
module finds the case's deposits and the holds keeping their money, then follows refunds: the
payouts made from those holds, and the holds a failed refund put the money back into (and the
payouts made from those). Everything is read through payments' models and selectors; nothing here
writes.
"""

from __future__ import annotations

from django.db.models import Q

from aml.cases.models import Case
from aml.models import Assessment
from payments.models import Charge, Deposit, Hold, LedgerTransaction, PayoutRequest

MAX_REFUND_ROUNDS = 20  # failed refunds of one hold; a real case has one or two


def _subject_ids(case: Case, kind: str) -> list[str]:
    refs = Assessment.objects.filter(case_item__case=case, subject_ref__startswith=f"{kind}:").values_list(
        "subject_ref", flat=True
    )
    return [ref.split(":", 1)[1] for ref in refs]


def case_deposits(case: Case) -> list[Deposit]:
    ids = [int(i) for i in _subject_ids(case, "deposit") if i.isdigit()]
    return list(Deposit.objects.filter(pk__in=ids).select_related("network", "hold").order_by("id"))


def _direct_hold_ids(case: Case) -> set[int]:
    deposits = case_deposits(case)
    ids = {d.hold_id for d in deposits if d.hold_id}
    # A deposit re-screened after a sanctions import (aml.rescreen) had reached available: what was
    # left of it was moved to a hold of its own, referenced "deposit:<id>".
    ids |= set(
        Hold.objects.filter(reference__in=[f"deposit:{d.pk}" for d in deposits]).values_list("pk", flat=True)
    )
    charge_keys = _subject_ids(case, "charge")
    ids |= set(
        Charge.objects.filter(idempotency_key__in=charge_keys, hold__isnull=False).values_list(
            "hold_id", flat=True
        )
    )
    payout_ids = [int(i) for i in _subject_ids(case, "payout") if i.isdigit()]
    ids |= set(PayoutRequest.objects.filter(pk__in=payout_ids).values_list("hold_id", flat=True))
    return ids


def case_hold_ids(case: Case) -> list[int]:
    """Holds of the case's subjects, plus the holds failed refunds of them returned money to."""
    ids = _direct_hold_ids(case)
    frontier = set(ids)
    for _ in range(MAX_REFUND_ROUNDS):
        returned = set(
            PayoutRequest.objects.filter(hold_id__in=frontier, return_hold__isnull=False).values_list(
                "return_hold_id", flat=True
            )
        )
        frontier = returned - ids
        if not frontier:
            break
        ids |= frontier
    return sorted(ids)


def case_holds(case: Case) -> list[Hold]:
    return list(Hold.objects.filter(pk__in=case_hold_ids(case)).order_by("id"))


def case_payouts(case: Case) -> list[PayoutRequest]:
    """Payouts from the case's holds, or naming the case as their reference."""
    rows = PayoutRequest.objects.filter(Q(hold_id__in=case_hold_ids(case)) | Q(reference=f"case:{case.pk}"))
    return list(
        rows.select_related("network", "requested_by", "approved_by", "sent_by", "rejected_by").order_by("id")
    )


def case_ledger_transactions(case: Case) -> list[LedgerTransaction]:
    """Every ledger transaction that moved the case's money: on its holds, and payout settlements."""
    hold_ids = case_hold_ids(case)
    payout_keys = [f"payout:{p.pk}:settle" for p in case_payouts(case)]
    rows = LedgerTransaction.objects.filter(Q(hold_id__in=hold_ids) | Q(idempotency_key__in=payout_keys))
    return list(rows.select_related("created_by").prefetch_related("entries__account").order_by("id"))
