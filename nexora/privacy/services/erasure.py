"""Erasure requests ("forget me"): the client asks, staff execute or refuse, the client is told.

* ``erasure_request_create``: one pending request per client, due in ``NEXORA_ERASURE_DUE_DAYS``
  (30 days: the operator answers privacy requests within a month, policy section 2.3).
* ``erasure_preview``: what would be kept, per category, and until when: rows of categories that
  stay on erasure (legal duties, security), each until its newest row's clock plus the period, and
  the name, which stays with the legal records until the last of them expires. Staff see it before
  executing, the client on the privacy page, and it is stored on the request when executed.
* ``erasure_blockers``: reasons the request cannot be executed *yet*: money still on the account
  (it is the client's: refund or charge it first), a top-up still open (a payment could still
  arrive), and whatever the other apps registered (an open AML case).
* ``erasure_execute``: in one transaction: applies ``erase`` categories to the client's rows,
  erases the profile's contact data and login (``client_erase``; fully anonymises it when no legal
  record remains), terminates the account (which starts its closure clock), stores what was kept,
  completes the request and logs the staff action. The client gets the summary by e-mail at the
  address they had, after commit, in their language.
* ``erasure_refuse`` (with the reason, shown to the client) and ``erasure_withdraw`` (the client).

Every status change goes through ``erasure_transition`` (``nexora.common.transitions``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from nexora.accounts.models import AccountStatus, ClientProfile
from nexora.accounts.security import SecurityKind, security_event_log
from nexora.accounts.services import account_terminate
from nexora.common.errors import Conflict, ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply
from nexora.privacy.models import ErasureRequest, ErasureStatus
from nexora.privacy.registry import Action, DataCategory, OnErasure, categories, category_find, erasure_checks
from nexora.privacy.retention import months_after
from nexora.privacy.services.anonymise import client_anonymise, client_erase

logger = logging.getLogger(__name__)
S = ErasureStatus
ERASURE_TRANSITIONS: TransitionTable = {
    S.PENDING: frozenset({S.COMPLETED, S.REFUSED, S.WITHDRAWN}),
    S.COMPLETED: frozenset(),
    S.REFUSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
PROFILE = "profile"
PROFILE_TITLE = _("Your name and client number")
PROFILE_BASIS = _("so that the records above stay attributable to you, as the law requires")


def erasure_transition(
    erasure: ErasureRequest, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> ErasureRequest:
    return transition_apply(
        erasure,
        table=ERASURE_TRANSITIONS,
        to=to,
        entity="erasure",
        actor=actor,
        reason=reason,
        extra_fields=fields,
    )


def erasure_pending_for(*, client: ClientProfile) -> ErasureRequest | None:
    return ErasureRequest.objects.filter(client=client, status=S.PENDING).first()


@transaction.atomic
def erasure_request_create(*, client: ClientProfile, request: Any = None) -> ErasureRequest:
    if client.anonymised_at is not None or client.status == AccountStatus.TERMINATED:
        raise Conflict("This account is closed.", code="account_closed")
    if erasure_pending_for(client=client) is not None:
        raise Conflict("An erasure request is already waiting for an answer.", code="erasure_pending")
    due = timezone.now() + timedelta(days=settings.NEXORA_ERASURE_DUE_DAYS)
    erasure = ErasureRequest.objects.create(client=client, due_at=due)
    security_event_log(
        user=client.user, kind=SecurityKind.ERASURE_REQUESTED, request=request, detail=f"#{erasure.pk}"
    )
    return erasure


def _kept_until(category: DataCategory, client: ClientProfile) -> tuple[int, datetime | None]:
    rows = category.rows_of(client)
    newest = rows.aggregate(at=Max(category.clock))["at"]
    return rows.count(), (months_after(newest, category.months) if newest else None)


def erasure_preview(*, client: ClientProfile) -> list[dict[str, Any]]:
    """What stays after erasure: ``[{"category", "count", "until", "legal"}]`` (``kept_display``
    adds the titles and reasons in the reader's language)."""
    kept: list[dict[str, Any]] = []
    undisclosed_until: list[str] = []  # AML records: they keep the name, but are never named
    for category in categories():
        if category.name == PROFILE or category.on_erasure != OnErasure.KEEP:
            continue
        count, until = _kept_until(category, client)
        if not count or until is None:
            continue
        entry = {"category": category.name, "count": count, "until": until.date().isoformat()}
        if category.disclosed:
            kept.append({**entry, "legal": category.legal})
        elif category.legal:
            undisclosed_until.append(until.date().isoformat())
    legal_until = [k["until"] for k in kept if k["legal"]] + undisclosed_until
    if legal_until:
        kept.append({"category": PROFILE, "count": 1, "until": max(legal_until), "legal": True})
    return kept


def kept_display(kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``kept`` entries with the category's title and the reason it is kept, translated now."""
    rows = []
    for entry in kept:
        title: Any
        basis: Any
        if entry["category"] == PROFILE:
            title, basis = PROFILE_TITLE, PROFILE_BASIS
        else:
            category = category_find(entry["category"])
            title = category.title if category else entry["category"]
            basis = category.basis if category else ""
        rows.append(
            {**entry, "title": str(title), "basis": str(basis), "until": date.fromisoformat(entry["until"])}
        )
    return rows


def erasure_blockers(*, client: ClientProfile) -> list[str]:
    from payments.models import LedgerAccount, TopUp, TopUpStatus

    reasons = []
    if LedgerAccount.objects.filter(client=client, balance__gt=0).exists():
        reasons.append(
            translation.gettext(
                "The account still holds money (available or held): refund or charge it first."
            )
        )
    open_statuses = [TopUpStatus.AWAITING_PAYMENT, TopUpStatus.CONFIRMING]
    if TopUp.objects.filter(client=client, status__in=open_statuses).exists():
        reasons.append(translation.gettext("A top-up is still open: a payment could still arrive."))
    reasons.extend(reason for check in erasure_checks() if (reason := check(client)))
    return reasons


def _erase_categories(client: ClientProfile) -> None:
    for category in categories():
        if category.on_erasure != OnErasure.ERASE or category.name == PROFILE:
            continue
        rows = category.rows_of(client)
        if category.action == Action.DELETE:
            rows.delete()
        elif category.anonymise is not None:
            category.anonymise(rows)


def _locked_pending(erasure: ErasureRequest) -> ErasureRequest:
    locked = ErasureRequest.objects.select_for_update().select_related("client__user").get(pk=erasure.pk)
    if locked.status != S.PENDING:
        raise Conflict("This request was already answered.", code="erasure_answered")
    return locked


@transaction.atomic
def erasure_execute(
    *, erasure: ErasureRequest, actor: Any, comment: str = "", request: Any = None
) -> ErasureRequest:
    locked = _locked_pending(erasure)
    client = locked.client
    blockers = erasure_blockers(client=client)
    if blockers:
        raise Conflict(" ".join(blockers), code="erasure_blocked")
    kept = erasure_preview(client=client)
    email, language = client.user.email, client.language
    _erase_categories(client)
    if client.status != AccountStatus.TERMINATED:
        account_terminate(profile=client, actor=actor, reason=f"erasure request #{locked.pk}")
    if any(k["legal"] for k in kept):
        client_erase(profile=client)
    else:
        client_anonymise(profile=client)
    erasure_transition(
        locked,
        to=S.COMPLETED,
        actor=actor,
        reason=comment,
        decided_by=actor,
        decided_at=timezone.now(),
        comment=comment,
        kept=kept,
    )
    security_event_log(
        user=actor,
        kind=SecurityKind.STAFF_ACTION,
        request=request,
        detail=f"executed erasure request #{locked.pk} of client #{client.pk}",
    )
    if email:
        transaction.on_commit(lambda: _tell_client(email=email, language=language, erasure=locked))
    return locked


@transaction.atomic
def erasure_refuse(
    *, erasure: ErasureRequest, actor: Any, comment: str, request: Any = None
) -> ErasureRequest:
    if not comment.strip():
        raise ValidationFailed(
            "Say why: the client reads this answer.",
            code="comment_required",
            fields={"comment": [{"code": "comment_required", "message": "Required."}]},
        )
    locked = _locked_pending(erasure)
    erasure_transition(
        locked,
        to=S.REFUSED,
        actor=actor,
        reason=comment,
        decided_by=actor,
        decided_at=timezone.now(),
        comment=comment.strip(),
    )
    security_event_log(
        user=actor,
        kind=SecurityKind.STAFF_ACTION,
        request=request,
        detail=f"refused erasure request #{locked.pk} of client #{locked.client_id}",
    )
    return locked


@transaction.atomic
def erasure_withdraw(*, erasure: ErasureRequest, client: ClientProfile) -> ErasureRequest:
    locked = _locked_pending(erasure)
    if locked.client_id != client.pk:
        raise Conflict("This request was already answered.", code="erasure_answered")
    return erasure_transition(
        locked, to=S.WITHDRAWN, actor=client.user, reason="withdrawn by the client", decided_at=timezone.now()
    )


def _tell_client(*, email: str, language: str, erasure: ErasureRequest) -> None:
    """The summary of what was erased and what is kept, to the address the client had."""
    try:
        with translation.override(language):
            context = {"erasure": erasure, "kept": kept_display(erasure.kept)}
            body = render_to_string("privacy/email/erasure_done.txt", context)
            subject = translation.gettext("Your data was erased")
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    except Exception:  # the erasure stands even if the e-mail cannot be sent
        logger.exception("erasure #%s: the summary e-mail could not be sent", erasure.pk)
