"""Document requests, the client's uploads and statements, and the refund address a case asks for.

Staff side (the dashboard calls these):

* ``document_request_create`` asks the case's client for items (``DocumentItem``) by a due date. A
  request for a refund address names the network the refund will use (by default the one network
  of the case's deposits). The case moves to ``awaiting_client`` when it was ``open`` or
  ``escalated``; the request and the move are in the case trail.
* ``document_request_cancel``, and ``document_requests_mark_overdue`` (the beat task).

Client side (the review page calls these; every object is checked to be the client's own):

* ``document_upload`` stores one file for one requested item: at most ``NEXORA_DOCUMENT_MAX_BYTES``,
  a PDF, PNG or JPEG by its first bytes, at most ``NEXORA_DOCUMENTS_PER_REQUEST`` per request;
* ``statement_submit`` records the client's point of view, or a contest asking for a human review;
* ``refund_address_submit`` records the address the client gives, and ``refund_address_confirm``
  (the second step, with the account password; five wrong ones lock it for an hour) puts it in
  force through payments' screening.

A request is fulfilled once every item has an answer (a document, or a refund address confirmed
after the request). When the last open request of an ``awaiting_client`` case is fulfilled, the
case goes back to ``open``: it returns to the reviewer's queue. Each step writes a ``CaseEvent``
in the same transaction; a refused input writes nothing (a file already on disk is removed).

The reads the dashboard uses (``documents_for_case``, ``statements_for_case``,
``open_requests_for_client``) live in ``document_selectors`` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone, translation

from aml.cases.document_models import private_storage
from aml.cases.document_selectors import (
    ACTIVE_REQUEST,
    documents_for_case,
    open_requests_for_client,
    review_case_for_client,
    statements_for_case,
)
from aml.cases.models import (
    Case,
    CaseStatus,
    ClientDocument,
    ClientStatement,
    DocumentItem,
    DocumentRequest,
    DocumentRequestStatus,
    StatementKind,
)
from aml.cases.money import case_deposits
from aml.cases.services import case_event_add, case_transition
from nexora.accounts.models import ClientProfile
from nexora.common.errors import Conflict, NotFound, PermissionDenied, StaleState, ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply
from payments.models import Network, RefundAddress, RefundAddressStatus
from payments.services.payouts import refund_address_activate, refund_address_record

__all__ = [
    "documents_for_case",
    "open_requests_for_client",
    "statements_for_case",
]

S = DocumentRequestStatus
DOCUMENT_REQUEST_TRANSITIONS: TransitionTable = {
    S.OPEN: frozenset({S.FULFILLED, S.OVERDUE, S.CANCELLED}),
    S.OVERDUE: frozenset({S.FULFILLED, S.CANCELLED}),  # a late answer is still an answer
    S.FULFILLED: frozenset(),
    S.CANCELLED: frozenset(),
}
MAX_DUE_DAYS = 90
MAX_STATEMENT = 5000
MAX_COMMENT = 2000
PASSWORD_TRIES = 5
SIGNATURES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def document_request_transition(
    request: DocumentRequest, *, to: str, actor: Any = None, reason: str = "", **fields: Any
) -> DocumentRequest:
    return transition_apply(
        request, table=DOCUMENT_REQUEST_TRANSITIONS, to=to, entity="document_request", actor=actor,
        reason=reason, extra_fields=fields,
    )  # fmt: skip


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [{"code": code, "message": message}]})


def _text(value: object, *, field: str, limit: int, empty_code: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise _invalid(field, empty_code, "This cannot be empty.")
    if len(text) > limit:
        raise _invalid(field, f"{field}_too_long", f"At most {limit} characters.")
    return text


# --- staff: requests ---------------------------------------------------------------------------


def _items_parse(items: object) -> list[str]:
    values = list(items) if isinstance(items, (list, tuple)) else []
    unknown = [v for v in values if v not in DocumentItem.values]
    if not values or unknown:
        raise _invalid("items", "invalid_items", f"Choose from: {', '.join(DocumentItem.values)}.")
    return list(dict.fromkeys(values))  # de-duplicated, in the order given


def _due_parse(due_on: object) -> date:
    try:
        due = due_on if isinstance(due_on, date) else date.fromisoformat(str(due_on))
    except ValueError:
        raise _invalid("due_on", "invalid_due_date", "Give the due date as YYYY-MM-DD.") from None
    today = timezone.localdate()
    if not today <= due <= today + timedelta(days=MAX_DUE_DAYS):
        raise _invalid("due_on", "invalid_due_date", f"The due date must be within {MAX_DUE_DAYS} days.")
    return due


def _refund_network(case: Case, items: list[str], network: Network | None) -> Network | None:
    if DocumentItem.REFUND_ADDRESS not in items:
        return None
    if network is not None:
        return network
    networks = {d.network.pk: d.network for d in case_deposits(case)}
    if len(networks) != 1:
        raise _invalid("refund_network", "refund_network_required", "Say which network the refund uses.")
    return next(iter(networks.values()))


def _staff_check(actor: Any, perm: str) -> None:
    if not (getattr(actor, "is_authenticated", False) and actor.is_staff and actor.has_perm(perm)):
        raise PermissionDenied("Your role does not allow this.")


@transaction.atomic
def document_request_create(
    *,
    case: Case,
    actor: Any,
    items: object,
    due_on: object,
    comment: object,
    refund_network: Network | None = None,
) -> DocumentRequest:
    """Ask the case's client for ``items`` by ``due_on``; ``comment`` stays staff-facing."""
    _staff_check(actor, "cases.add_documentrequest")
    values, due = _items_parse(items), _due_parse(due_on)
    note = _text(comment, field="comment", limit=MAX_COMMENT, empty_code="comment_required")
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status == CaseStatus.CLOSED:
        raise Conflict("The case is closed.", code="case_closed")
    request = DocumentRequest.objects.create(
        case=case, items=values, due_on=due, comment=note, created_by=actor,
        refund_network=_refund_network(case, values, refund_network),
    )  # fmt: skip
    after = {"request": str(request.public_id), "items": values, "due_on": due.isoformat()}
    case_event_add(case=case, action="documents_requested", actor=actor, comment=note, after=after)
    if case.status in (CaseStatus.OPEN, CaseStatus.ESCALATED):
        case_transition(case, to=CaseStatus.AWAITING_CLIENT, actor=actor, reason="documents requested")
    return request


@transaction.atomic
def document_request_cancel(*, request: DocumentRequest, actor: Any, comment: object) -> DocumentRequest:
    _staff_check(actor, "cases.change_documentrequest")
    note = _text(comment, field="comment", limit=MAX_COMMENT, empty_code="comment_required")
    document_request_transition(request, to=S.CANCELLED, actor=actor, reason=note)
    after = {"request": str(request.public_id), "status": S.CANCELLED}
    case_event_add(
        case=request.case, action="documents_request_cancelled", actor=actor, comment=note, after=after
    )
    _case_back_if_answered(request.case, actor, reason="no request left open")
    return request


def document_requests_mark_overdue(*, today: date | None = None) -> int:
    """Open requests past their due date become ``overdue`` (the client can still answer)."""
    today = today or timezone.localdate()
    moved = 0
    for request in DocumentRequest.objects.filter(status=S.OPEN, due_on__lt=today).select_related("case"):
        try:
            with transaction.atomic():
                document_request_transition(request, to=S.OVERDUE, reason=f"due on {request.due_on}")
                after = {"request": str(request.public_id)}
                case_event_add(case=request.case, action="documents_overdue", after=after)
        except StaleState:  # answered, cancelled or marked by another run meanwhile
            continue
        moved += 1
    return moved


# --- fulfilment ---------------------------------------------------------------------------------


def _answered(request: DocumentRequest) -> bool:
    uploaded = set(request.documents.values_list("item", flat=True))
    for item in request.items:
        if item == DocumentItem.REFUND_ADDRESS:
            confirmed = RefundAddress.objects.filter(
                client=request.case.client,
                network=request.refund_network,
                status=RefundAddressStatus.CONFIRMED,
                created_at__gte=request.created_at,
            )
            if not confirmed.exists():
                return False
        elif item not in uploaded:
            return False
    return True


def _fulfil_if_answered(request: DocumentRequest, actor: Any) -> None:
    request = DocumentRequest.objects.select_for_update().select_related("case").get(pk=request.pk)
    if request.status not in ACTIVE_REQUEST or not _answered(request):
        return
    document_request_transition(request, to=S.FULFILLED, actor=actor, reason="every item answered",
                                fulfilled_at=timezone.now())  # fmt: skip
    case_event_add(case=request.case, action="documents_received", actor=actor,
                   after={"request": str(request.public_id)})  # fmt: skip
    _case_back_if_answered(request.case, actor)


def _case_back_if_answered(case: Case, actor: Any, reason: str = "the client answered every request") -> None:
    """An ``awaiting_client`` case with nothing left to answer returns to the reviewer's queue."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    waiting = DocumentRequest.objects.filter(case=case, status__in=ACTIVE_REQUEST).exists()
    if case.status == CaseStatus.AWAITING_CLIENT and not waiting:
        case_transition(case, to=CaseStatus.OPEN, actor=actor, reason=reason)


# --- client: uploads -----------------------------------------------------------------------------


def _sniff(file: UploadedFile) -> str:
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    for signature, content_type in SIGNATURES.items():
        if head.startswith(signature):
            return content_type
    raise _invalid("file", "file_type_not_allowed", "Upload a PDF, PNG or JPEG file.")


def _file_check(file: object) -> UploadedFile:
    if not isinstance(file, UploadedFile):
        raise _invalid("file", "file_required", "Choose a file to upload.")
    size = file.size or 0
    if size <= 0:
        raise _invalid("file", "file_empty", "The file is empty.")
    if size > settings.NEXORA_DOCUMENT_MAX_BYTES:
        limit = settings.NEXORA_DOCUMENT_MAX_BYTES // (1024 * 1024)
        raise _invalid("file", "file_too_large", f"Files can be at most {limit} MB.")
    return file


def _display_name(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = _CONTROL.sub("", unicodedata.normalize("NFC", base)).strip()
    return clean[:120] or "document"


def _digest(file: UploadedFile) -> str:
    sha = hashlib.sha256()
    for chunk in file.chunks():
        sha.update(chunk)
    file.seek(0)
    return sha.hexdigest()


def _item_for(request: DocumentRequest, item: object) -> str:
    documents = [i for i in request.items if i != DocumentItem.REFUND_ADDRESS]
    if item in (None, "") and len(documents) == 1:
        return documents[0]
    if item not in documents:
        raise _invalid("item", "invalid_item", "Choose one of the requested items.")
    return str(item)


def _request_check(request: DocumentRequest, client: ClientProfile) -> DocumentRequest:
    locked = DocumentRequest.objects.select_for_update().select_related("case").filter(pk=request.pk).first()
    if locked is None or locked.case.client_id != client.pk:
        raise NotFound("No such request.")
    if locked.status not in ACTIVE_REQUEST:
        raise Conflict("This request is closed.", code="request_closed")
    if locked.documents.count() >= settings.NEXORA_DOCUMENTS_PER_REQUEST:
        raise Conflict("This request has as many files as it can take.", code="too_many_documents")
    return locked


def document_upload(
    *, request: DocumentRequest, client: ClientProfile, file: object, item: object = None
) -> ClientDocument:
    """Store one file for one requested item (the only document item when ``item`` is omitted).

    The file is written inside the transaction and removed again if the transaction fails, so a
    refused upload leaves neither a row nor a file (a caller's own outer transaction is not ours to
    watch: call this outside one, as the view does)."""
    upload = _file_check(file)
    content_type = _sniff(upload)
    document = None
    try:
        with transaction.atomic():
            locked = _request_check(request, client)
            chosen = _item_for(locked, item)
            document = _document_build(locked, client, upload, chosen, content_type)
            document.file.save("upload", upload, save=False)  # the name comes from document_upload_to
            document.save()
            after = {"document": str(document.public_id), "item": chosen, "sha256": document.sha256,
                     "size": document.size, "content_type": content_type}  # fmt: skip
            case_event_add(case=locked.case, action="document_uploaded", actor=client.user, after=after)
            _fulfil_if_answered(locked, client.user)
    except BaseException:
        if document is not None and document.file.name:
            private_storage().delete(document.file.name)
        raise
    return document


def _document_build(
    request: DocumentRequest, client: ClientProfile, upload: UploadedFile, item: str, content_type: str
) -> ClientDocument:
    return ClientDocument(
        request=request, case=request.case, client=client, item=item,
        original_name=_display_name(upload.name), content_type=content_type, size=upload.size or 0,
        sha256=_digest(upload), uploaded_by=client.user,
    )  # fmt: skip


# --- client: statements ------------------------------------------------------------------------


def statement_submit(
    *, client: ClientProfile, text: object, case: Case | None = None, kind: str = StatementKind.STATEMENT
) -> ClientStatement:
    """The client's point of view, or (``kind="contest"``) a contest asking for a human review."""
    body = _text(text, field="text", limit=MAX_STATEMENT, empty_code="statement_empty")
    if kind not in StatementKind.values:
        raise _invalid("kind", "invalid_kind", "Unknown kind of statement.")
    target = case if case is not None else review_case_for_client(client)
    if target is None or target.client_id != client.pk:
        raise NotFound("There is no review to comment on.", code="no_review")
    with transaction.atomic():
        statement = ClientStatement.objects.create(
            case=target, client=client, kind=kind, text=body, language=translation.get_language() or ""
        )
        action = "client_contest" if kind == StatementKind.CONTEST else "client_statement"
        case_event_add(case=target, action=action, actor=client.user, comment=body,
                       after={"statement": statement.pk, "kind": kind})  # fmt: skip
    return statement


# --- client: refund address ----------------------------------------------------------------------


def refund_request_for_case(case: Case) -> DocumentRequest | None:
    """The latest open request of the case that asks for a refund address (JSON is filtered here:
    SQLite, the demo database, has no JSON containment lookup)."""
    active = DocumentRequest.objects.filter(
        case=case, status__in=ACTIVE_REQUEST, refund_network__isnull=False
    )
    found = [
        r
        for r in active.select_related("refund_network").order_by("-id")
        if DocumentItem.REFUND_ADDRESS in r.items
    ]
    return found[0] if found else None


@transaction.atomic
def refund_address_submit(*, client: ClientProfile, case: Case, address: object) -> RefundAddress:
    """Record the address the client gives for the refund; it needs ``refund_address_confirm``."""
    if case.client_id != client.pk:
        raise NotFound("No such case.")
    request = refund_request_for_case(case)
    network = request.refund_network if request is not None else None
    if network is None:
        raise Conflict("No refund address was asked for.", code="refund_address_not_requested")
    refund_address = refund_address_record(
        client=client, network=network, address=address, reference=f"case:{case.pk}", actor=client.user
    )
    after = {"refund_address": refund_address.pk, "network": network.code, "address": refund_address.address}
    case_event_add(case=case, action="refund_address_given", actor=client.user, after=after)
    return refund_address


def _case_of(refund_address: RefundAddress) -> Case | None:
    prefix, _, pk = refund_address.reference.partition(":")
    return Case.objects.filter(pk=int(pk)).first() if prefix == "case" and pk.isdigit() else None


def _password_check(client: ClientProfile, password: object) -> None:
    """The account password, with at most ``PASSWORD_TRIES`` wrong ones an hour: a stolen session
    cannot guess its way to changing where refunds go."""
    key = f"refund-address-password:{client.pk}"
    if cache.get(key, 0) >= PASSWORD_TRIES:
        raise _invalid("password", "too_many_attempts", "Too many wrong passwords; try again in an hour.")
    if not isinstance(password, str) or not client.user.check_password(password):
        cache.add(key, 0, timeout=3600)
        cache.incr(key)
        raise _invalid("password", "wrong_password", "The password is not correct.")


@transaction.atomic
def refund_address_confirm(
    *, client: ClientProfile, refund_address: RefundAddress, password: object
) -> RefundAddress:
    """The second step: the client confirms with their password; then the address is in force."""
    if refund_address.client_id != client.pk:
        raise NotFound("No such address.")
    _password_check(client, password)
    confirmed = refund_address_activate(refund_address=refund_address, actor=client.user)
    case = _case_of(confirmed)
    if case is not None:
        after = {"refund_address": confirmed.pk, "address": confirmed.address}
        case_event_add(case=case, action="refund_address_confirmed", actor=client.user, after=after)
        for request in DocumentRequest.objects.filter(case=case, status__in=ACTIVE_REQUEST):
            _fulfil_if_answered(request, client.user)
    return confirmed


def document_viewed(*, document: ClientDocument, actor: Any) -> None:
    """Staff opened a client's document: need-to-know access is itself in the case trail."""
    case_event_add(case=document.case, action="document_viewed", actor=actor,
                   after={"document": str(document.public_id), "item": document.item})  # fmt: skip
