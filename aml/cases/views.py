"""The client's side of a review: the neutral review page, uploads, statements, the refund address.

``/review/`` shows the client what is asked of them and nothing about why: open document requests
(each item by its neutral label, with an upload form), the refund address form when one is asked
for (and its confirmation, the second step), their held top-ups as "under review", and a statement
form with their right to a human review, to give their point of view and to contest the decision
(seed 002). No rule, score, list or staff comment ever reaches this page (invariant 8).

Views are thin: parse, call one service, render. A refused input re-renders the page with the
error next to its field, HTTP 400, and nothing written. Another client's request, document or
address is a 404. Documents are streamed only to their owner and to staff holding
``cases.view_clientdocument`` (each staff download is recorded in the case trail), as attachments
that a browser will not render inline.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from aml.cases.document_selectors import (
    document_for_client,
    document_get,
    documents_for_case,
    open_requests_for_client,
    request_for_client,
    review_case_for_client,
    statements_for_case,
)
from aml.cases.documents import (
    document_upload,
    document_viewed,
    refund_address_confirm,
    refund_address_submit,
    refund_request_for_case,
    statement_submit,
)
from aml.cases.forms import RefundAddressForm, RefundConfirmForm, ReviewForm, StatementForm, UploadForm
from aml.cases.models import ClientDocument, DocumentItem, DocumentRequest, StatementKind
from nexora.accounts.models import ClientProfile
from nexora.common.errors import NexoraError, NotFound
from payments.models import RefundAddress, RefundAddressStatus
from payments.selectors.topups import topups_for_client
from payments.views import client_required

ITEM_LABELS: dict[str, Promise] = {
    DocumentItem.IDENTITY: _("Proof of identity (passport, ID card or driving licence)"),
    DocumentItem.AUTHORITY: _("Proof that you may act for the company"),
    DocumentItem.COMPANY: _("Company details and its beneficial owners"),
    DocumentItem.SOURCE_OF_FUNDS: _("Where the funds come from (for example a bank or exchange statement)"),
    DocumentItem.PAYMENT_PURPOSE: _("What the payment is for"),
    DocumentItem.TRANSACTION: _(
        "Documents about the payment (for example the withdrawal in your wallet or exchange)"
    ),
    DocumentItem.REFUND_ADDRESS: _("An address of your own wallet for a refund"),
}
STAFF_PERMISSION = "cases.view_clientdocument"


def _request_row(request: DocumentRequest, forms: dict[str, ReviewForm]) -> dict[str, Any]:
    key = str(request.public_id)
    items = [i for i in request.items if i != DocumentItem.REFUND_ADDRESS]
    return {
        "request": request,
        "items": [{"code": i, "label": ITEM_LABELS.get(i, i)} for i in items],
        "asks_refund_address": DocumentItem.REFUND_ADDRESS in request.items,
        "upload_form": forms.get(f"upload:{key}", UploadForm()),
    }


def _refund_state(client: ClientProfile, forms: dict[str, ReviewForm]) -> dict[str, Any] | None:
    case = review_case_for_client(client)
    request = refund_request_for_case(case) if case is not None else None
    if request is None:
        return None
    addresses = RefundAddress.objects.filter(
        client=client, network=request.refund_network, created_at__gte=request.created_at
    )
    pending = addresses.filter(status=RefundAddressStatus.SUBMITTED).order_by("-id").first()
    confirmed = addresses.filter(status=RefundAddressStatus.CONFIRMED).first()
    return {
        "request": request,
        "network": request.refund_network,
        "pending": pending,
        "confirmed": confirmed,
        "address_form": forms.get("address", RefundAddressForm()),
        "confirm_form": forms.get("confirm", RefundConfirmForm()),
    }


def _context(client: ClientProfile, forms: dict[str, ReviewForm] | None = None) -> dict[str, Any]:
    forms = forms or {}
    case = review_case_for_client(client)
    return {
        "case_exists": case is not None,
        "requests": [_request_row(r, forms) for r in open_requests_for_client(client)],
        "refund": _refund_state(client, forms),
        "held_topups": list(topups_for_client(client).filter(review="on_hold")),
        "documents": [(d, ITEM_LABELS.get(d.item, d.item)) for d in documents_for_case(case)] if case else [],
        "statements": list(statements_for_case(case)) if case is not None else [],
        "statement_form": forms.get("statement", StatementForm()),
        "max_mb": settings.NEXORA_DOCUMENT_MAX_BYTES // (1024 * 1024),
    }


def _refused(
    request: HttpRequest, client: ClientProfile, key: str, form: ReviewForm, exc: NexoraError
) -> HttpResponse:
    form.service_error_add(exc)
    status = exc.status if exc.status >= 500 else 400
    return render(request, "client/review.html", _context(client, {key: form}), status=status)


def _own_request(client: ClientProfile, request_id: str) -> DocumentRequest:
    try:
        return request_for_client(client, request_id)
    except NotFound:
        raise Http404 from None


@client_required
@require_GET
def review(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    return render(request, "client/review.html", _context(client))


@client_required
@require_POST
def upload(request: HttpRequest, client: ClientProfile, request_id: str) -> HttpResponse:
    document_request = _own_request(client, request_id)
    form = UploadForm(request.POST, request.FILES)
    form.is_valid()
    data = form.cleaned_data
    try:
        document_upload(request=document_request, client=client, file=data.get("file"), item=data.get("item"))
    except NexoraError as exc:
        return _refused(request, client, f"upload:{document_request.public_id}", form, exc)
    messages.success(request, gettext("Thank you. Your document was received."))
    return redirect("review:page")


@client_required
@require_POST
def statement(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    form = StatementForm(request.POST)
    form.is_valid()
    kind = StatementKind.CONTEST if form.cleaned_data.get("contest") else StatementKind.STATEMENT
    try:
        statement_submit(client=client, text=form.cleaned_data.get("text"), kind=kind)
    except NexoraError as exc:
        return _refused(request, client, "statement", form, exc)
    if kind == StatementKind.CONTEST:
        messages.success(request, gettext("Thank you. A member of our team will review the decision."))
    else:
        messages.success(request, gettext("Thank you. Your message was added to the review."))
    return redirect("review:page")


@client_required
@require_POST
def refund_address(request: HttpRequest, client: ClientProfile, request_id: str) -> HttpResponse:
    document_request = _own_request(client, request_id)
    form = RefundAddressForm(request.POST)
    form.is_valid()
    try:
        refund_address_submit(
            client=client, case=document_request.case, address=form.cleaned_data.get("address")
        )
    except NexoraError as exc:
        return _refused(request, client, "address", form, exc)
    messages.info(request, gettext("Please check the address and confirm it with your password."))
    return redirect("review:page")


@client_required
@require_POST
def refund_address_confirm_view(request: HttpRequest, client: ClientProfile, address_id: int) -> HttpResponse:
    given = RefundAddress.objects.filter(pk=address_id, client=client).first()
    if given is None:
        raise Http404
    form = RefundConfirmForm(request.POST)
    form.is_valid()
    try:
        refund_address_confirm(
            client=client, refund_address=given, password=form.cleaned_data.get("password")
        )
    except NexoraError as exc:
        return _refused(request, client, "confirm", form, exc)
    messages.success(request, gettext("Thank you. The refund address is confirmed."))
    return redirect("review:page")


def _document_for(request: HttpRequest, document_id: str) -> ClientDocument:
    user = request.user
    profile = getattr(user, "client_profile", None)
    try:
        if isinstance(profile, ClientProfile):
            return document_for_client(profile, document_id)
        if user.is_staff and user.has_perm(STAFF_PERMISSION):
            document = document_get(document_id)
            document_viewed(document=document, actor=user)
            return document
    except NotFound:
        raise Http404 from None
    raise PermissionDenied


@login_required
@require_GET
def document_download(request: HttpRequest, document_id: str) -> FileResponse:
    document = _document_for(request, document_id)
    response = FileResponse(
        document.file.open("rb"), as_attachment=True, filename=document.original_name,
        content_type=document.content_type,
    )  # fmt: skip
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
