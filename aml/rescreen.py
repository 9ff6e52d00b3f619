"""Re-screening: after a sanctions import adds addresses, deposits of the last 90 days from them.

``aml.sanctions`` sends ``sanctions_listed(import_id, added)`` once an import that made addresses
sanctioned has committed; the receiver queues the ``aml.rescreen_sources`` task
(``aml.tasks``), which calls ``rescreen_after_import``. For each credited deposit of the last
``RESCREEN_DAYS`` days whose source is one of ``added``:

1. a new assessment (trigger ``rescreen``) of the deposit's facts as first screened, "as of"
   that time for the history, with today's lists; the sanctions rule now hits, which bypasses the
   score: the account is frozen and the client's case opened or joined, marked sanctions
   (``aml.engine.assessment_act``);
2. the deposit's money is moved from ``available`` to ``held`` where it is still there (at most
   the deposit's value, at most what is available: money already spent is not chased; the freeze
   stops the rest), as a ledger hold referenced ``deposit:<id>``, and the top-up is flagged under
   review. A deposit whose credit is still held needs no second hold.

Idempotent per (deposit, import): a retried task finds the re-screen assessment it already wrote
(its facts name the import) and skips the deposit. Locks follow the deposit services' order (the
top-up, then the deposit, then the client and case), so a re-screen cannot deadlock with a
credit in flight.

Address identity follows ``aml.sanctions.normalize``: EVM and bech32 addresses are compared in
lower case, base58 (TRON, legacy Bitcoin) exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from aml.engine import assessment_create
from aml.models import Assessment, AssessmentTrigger, Decision, SubjectType
from aml.rules.base import DEPOSIT, Subject
from payments.models import Deposit, DepositStatus, HoldStatus, ReviewFlag
from payments.selectors.ledger import balance_get
from payments.services.holds import hold_place
from payments.services.topups import topup_lock, topup_review_transition

logger = logging.getLogger(__name__)
RESCREEN_DAYS = 90


def _case_insensitive(family: str, address: str) -> bool:
    return family == "evm" or address.startswith(("bc1", "tb1"))


def deposits_from(pairs: Iterable[tuple[str, str]], *, days: int = RESCREEN_DAYS) -> QuerySet[Deposit]:
    """Credited deposits of the last ``days`` days sent from any of ``(family, canonical address)``."""
    pairs = list(pairs)
    lowered = {address.lower() for family, address in pairs if _case_insensitive(family, address)}
    exact = {address for family, address in pairs if not _case_insensitive(family, address)}
    since = timezone.now() - timedelta(days=days)
    recent = Deposit.objects.filter(status=DepositStatus.CREDITED, credited_at__gte=since).exclude(sender="")
    return recent.annotate(sender_lower=Lower("sender")).filter(
        Q(sender_lower__in=lowered) | Q(sender__in=exact)
    )


def _subject(deposit: Deposit, import_id: int) -> Subject:
    first = (
        Assessment.objects.filter(subject_type=SubjectType.DEPOSIT, subject_ref=f"deposit:{deposit.pk}")
        .exclude(facts={})
        .order_by("created_at", "id")
        .first()
    )
    cause = f"sanctions import #{import_id}"
    if first is not None:
        return replace(Subject.from_facts(first.facts), cause=cause)
    assert deposit.credited_at is not None and deposit.credited_amount is not None
    return Subject(  # credited before the engine screened it: rebuilt from the deposit itself
        type=DEPOSIT, ref=f"deposit:{deposit.pk}", client_id=deposit.client_id, at=deposit.credited_at,
        currency=deposit.client.currency, amount=deposit.credited_amount, network=deposit.network.code,
        counterparty=deposit.sender, units=deposit.amount, topup_id=deposit.topup_id, deposit_id=deposit.pk,
        late=deposit.late, detail=deposit.tx_hash, cause=cause,
    )  # fmt: skip


def _hold_what_remains(deposit: Deposit, import_id: int) -> None:
    if deposit.hold is not None and deposit.hold.status == HoldStatus.ACTIVE:
        return  # its credit is still held: nothing reached available
    client = deposit.client
    amount = min(deposit.credited_amount or Decimal(0), balance_get(client=client).available)
    if amount > 0:
        hold_place(client=client, amount=amount, idempotency_key=f"rescreen:{deposit.pk}:{import_id}",
                   reason="Deposit under review", reference=f"deposit:{deposit.pk}")  # fmt: skip
    topup = deposit.topup
    if topup is not None and topup.review != ReviewFlag.ON_HOLD:
        topup_review_transition(topup, to=ReviewFlag.ON_HOLD, reason=f"deposit {deposit.pk} re-screened")


@transaction.atomic
def rescreen_deposit(*, deposit_id: int, import_id: int) -> Assessment | None:
    """Re-screen one deposit after ``import_id``; ``None`` if that was already done."""
    topup_id = Deposit.objects.filter(pk=deposit_id).values_list("topup_id", flat=True).first()
    if topup_id is not None:
        topup_lock(topup_id)
    locked = Deposit.objects.select_for_update(of=("self",)).select_related(
        "client", "network", "hold", "topup"
    )
    deposit = locked.get(pk=deposit_id)
    cause = f"sanctions import #{import_id}"
    done = Assessment.objects.filter(subject_type=SubjectType.DEPOSIT, subject_ref=f"deposit:{deposit.pk}",
                                     trigger=AssessmentTrigger.RESCREEN, facts__cause=cause)  # fmt: skip
    if done.exists():
        return None
    assessment = assessment_create(
        subject=_subject(deposit, import_id), trigger=AssessmentTrigger.RESCREEN, exclude_deposit=deposit.pk
    )
    if assessment.decision != Decision.ALLOW:
        _hold_what_remains(deposit, import_id)
    return assessment


def rescreen_after_import(*, import_id: int, added: Iterable[tuple[str, str]]) -> list[Assessment]:
    """Every recent deposit from a newly listed address, re-screened (one transaction each)."""
    done = []
    for deposit_id in deposits_from(added).order_by("id").values_list("pk", flat=True):
        assessment = rescreen_deposit(deposit_id=deposit_id, import_id=import_id)
        if assessment is not None:
            done.append(assessment)
    logger.info("sanctions import #%s: %d deposits re-screened", import_id, len(done))
    return done
