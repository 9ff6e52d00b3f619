"""Cases and what the client gave for them, in the personal-data registry (``nexora.privacy``).

Clock: the case's closure (``case__closed_at``). An open case has none, so nothing of it ever
expires while it is open, and it keeps the person attributable (``legal_holders``). Period: the
AML one (5 years, ``aml``). Registered in ``CasesConfig.ready``, children before parents, because
the purge walks the categories in order and the rows are linked with PROTECT:

* **documents** the client uploaded (``ClientDocument``), **statements** they wrote
  (``ClientStatement``) and the **document requests** staff sent: *deleted* after the period,
  files included. They are the most personal data of the whole system (identity papers, the
  client's own words) and nothing needs them once the AML record has expired (AMLD art. 40 asks
  for their deletion). Documents and statements are append-only: their tables' trigger lets a
  DELETE through only for rows whose case closed before the cut-off the purge declared
  (migration 0003), so even the purge cannot delete one early. A deleted document's file goes
  from private storage after the transaction commits.
* **cases** and their **events** (the audit trail): *kept* after the period, the person being
  anonymised in the profile instead, for the reasons given in ``aml.privacy`` (the trail is the
  evidence of every decision and of who took it; invariant 7). ``disclosed=False``: the client is
  never told a case exists through their copy or the erasure summary (invariant 8).

The client's copy (export) has their documents' metadata (never the staff's comment on a request,
nor who asked), their statements and the requests they received: all things they were shown.
Never case events, notes, assessments or rule outcomes (docs/privacy.md).

An open case blocks the execution of an erasure request (``open_case_blocks_erasure``): the
review must end first, and its records are then kept for their period anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from aml.cases.models import Case, CaseStatus, ClientDocument, ClientStatement, DocumentRequest
from nexora.accounts.models import ClientProfile
from nexora.privacy.registry import BASIS_AML, Action, Row, category_register, erasure_check_register


def document_rows(client: ClientProfile) -> Iterable[Row]:
    for document in ClientDocument.objects.filter(client=client).select_related("request").order_by("id"):
        yield {
            "id": document.public_id,
            "created_at": document.created_at,
            "request": document.request.public_id,
            "item": document.item,
            "file_name": document.original_name,
            "content_type": document.content_type,
            "size": document.size,
            "sha256": document.sha256,
        }


def statement_rows(client: ClientProfile) -> Iterable[Row]:
    for statement in ClientStatement.objects.filter(client=client).order_by("id"):
        yield {
            "created_at": statement.created_at,
            "kind": statement.kind,
            "text": statement.text,
            "language": statement.language,
        }


def document_request_rows(client: ClientProfile) -> Iterable[Row]:
    for request in DocumentRequest.objects.filter(case__client=client).order_by("id"):
        yield {
            "id": request.public_id,
            "created_at": request.created_at,
            "items": list(request.items),
            "due_on": request.due_on,
            "status": request.status,
            "fulfilled_at": request.fulfilled_at,
        }


def open_case_blocks_erasure(client: ClientProfile) -> str | None:
    if Case.objects.filter(client=client).exclude(status=CaseStatus.CLOSED).exists():
        return translation.gettext("An AML case of this client is still open: it must be closed first.")
    return None


def document_file_remove(sender: Any, instance: ClientDocument, **kwargs: Any) -> None:
    """The file of a deleted document row goes too, once the deletion is committed. ``robust``: a
    file that cannot be removed is logged by Django and does not stop the rest of the purge."""
    storage, name = instance.file.storage, instance.file.name
    if name:
        transaction.on_commit(lambda: storage.delete(name), robust=True)


def _aml(name: str, model: str, owner: str, title: Any, **extra: Any) -> None:
    category_register(
        name=name, model=model, owner=owner, clock="case__closed_at", period="aml", title=title,
        basis=BASIS_AML, **extra,
    )  # fmt: skip


def categories_register() -> None:
    _aml("aml.documents", "cases.ClientDocument", "client", _("Documents you sent for a review"),
         action=Action.DELETE, export=document_rows)  # fmt: skip
    _aml("aml.statements", "cases.ClientStatement", "client", _("Your statements on a review"),
         action=Action.DELETE, export=statement_rows)  # fmt: skip
    _aml("aml.document_requests", "cases.DocumentRequest", "case__client", _("Documents we asked you for"),
         action=Action.DELETE, export=document_request_rows)  # fmt: skip
    _aml("aml.case_events", "cases.CaseEvent", "case__client", "AML case events", action=Action.KEEP,
         disclosed=False)  # fmt: skip
    category_register(
        name="aml.cases", model="cases.Case", owner="client", clock="closed_at", period="aml",
        action=Action.KEEP, title="AML cases", basis=BASIS_AML, disclosed=False,
    )  # fmt: skip
    erasure_check_register(open_case_blocks_erasure)
    post_delete.connect(document_file_remove, sender=ClientDocument, dispatch_uid="cases.document_file")
