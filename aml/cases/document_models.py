"""What a case asks of the client and what the client answers: requests, documents, statements.

* A ``DocumentRequest`` asks the client of a case for items from a fixed list (policy section
  16.1: identity, authority to represent a company, company details, source of funds, purpose of
  payment, documents about a transaction, and a refund address) by a due date. The client sees each
  item's neutral, translated label, never why it is asked (invariant 8); the staff's ``comment``
  stays staff-facing. ``status`` moves ``open -> fulfilled | overdue | cancelled`` (an overdue
  request may still be fulfilled or cancelled) through ``document_request_transition``.
* A ``ClientDocument`` is one uploaded file. It lives in private storage under
  ``MEDIA_ROOT/client-documents/`` with a random name (nothing of the client's file name reaches the
  disk), has no URL (``PrivateDocumentStorage.url`` refuses), and is streamed only by the view that
  checks the requester is its owner or staff with ``cases.view_clientdocument``. Its type is what
  its first bytes say (PDF, PNG, JPEG), not what the browser claimed; its SHA-256 is recorded in
  the case's append-only trail when it arrives. Rows are never changed by the application.
* A ``ClientStatement`` is the client's own words on a case: their point of view, or a contest of
  the decision asking for a human review (the right in seed 002). Append-only, in the model layer
  and in PostgreSQL; it also lands in the case trail as a ``CaseEvent``.

The system check ``cases.E001`` refuses a configuration where private documents would sit inside
a static files directory (anything there may be served publicly).
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone

from aml.cases.models import Case
from nexora.accounts.models import ClientProfile
from nexora.common.models import AppendOnlyModel
from payments.models import Network

DOCUMENTS_DIR = "client-documents"
EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


class DocumentItem(models.TextChoices):
    IDENTITY = "identity", "Proof of identity"
    AUTHORITY = "authority", "Authority to represent a company"
    COMPANY = "company", "Company details and beneficial owners"
    SOURCE_OF_FUNDS = "source_of_funds", "Source of funds"
    PAYMENT_PURPOSE = "payment_purpose", "Purpose of the payment"
    TRANSACTION = "transaction", "Documents about the transaction"
    REFUND_ADDRESS = "refund_address", "An address for a refund"


class DocumentRequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    FULFILLED = "fulfilled", "Fulfilled"
    OVERDUE = "overdue", "Overdue"
    CANCELLED = "cancelled", "Cancelled"


class PrivateDocumentStorage(FileSystemStorage):
    """``MEDIA_ROOT`` on disk (read lazily, so tests can point it elsewhere), never a URL."""

    def url(self, name: str | None) -> str:
        raise NotImplementedError("Client documents have no URL; they are streamed by a checked view.")


_STORAGE = PrivateDocumentStorage()


def private_storage() -> PrivateDocumentStorage:
    return _STORAGE


def document_upload_to(instance: ClientDocument, filename: str) -> str:
    """A random name; the extension follows the detected type, never the uploaded name."""
    return (
        f"{DOCUMENTS_DIR}/{timezone.now():%Y/%m}/{secrets.token_hex(16)}{EXTENSIONS[instance.content_type]}"
    )


class DocumentRequest(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="document_requests")
    items = models.JSONField(default=list, help_text="DocumentItem codes.")
    due_on = models.DateField()
    status = models.CharField(
        max_length=12, choices=DocumentRequestStatus.choices, default=DocumentRequestStatus.OPEN
    )
    comment = models.TextField(help_text="Staff-facing; never shown to the client.")
    refund_network = models.ForeignKey(
        Network, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The network a requested refund address is for.",
    )  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "due_on"])]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"document request {self.public_id} on case #{self.case_id} ({self.status})"


class ClientDocument(AppendOnlyModel):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    request = models.ForeignKey(DocumentRequest, on_delete=models.PROTECT, related_name="documents")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="documents")
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="aml_documents")
    item = models.CharField(max_length=20, choices=DocumentItem.choices)
    file = models.FileField(storage=private_storage, upload_to=document_upload_to, max_length=200)
    original_name = models.CharField(max_length=120, help_text="As the client named it; display only.")
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"document {self.public_id} ({self.item}) on case #{self.case_id}"


class StatementKind(models.TextChoices):
    STATEMENT = "statement", "The client's point of view"
    CONTEST = "contest", "Contests the decision and asks for a human review"


class ClientStatement(AppendOnlyModel):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="statements")
    client = models.ForeignKey(ClientProfile, on_delete=models.PROTECT, related_name="aml_statements")
    kind = models.CharField(max_length=12, choices=StatementKind.choices, default=StatementKind.STATEMENT)
    text = models.TextField()
    language = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"statement #{self.pk} ({self.kind}) on case #{self.case_id}"


def _static_dirs() -> list[Path]:
    dirs = [Path(settings.STATIC_ROOT)] if settings.STATIC_ROOT else []
    for entry in getattr(settings, "STATICFILES_DIRS", []):
        dirs.append(Path(entry[1] if isinstance(entry, (tuple, list)) else entry))
    return [d.resolve() for d in dirs]


@checks.register(checks.Tags.security)
def private_media_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    media = (Path(settings.MEDIA_ROOT) / DOCUMENTS_DIR).resolve()
    clashes = [d for d in _static_dirs() if media.is_relative_to(d) or d.is_relative_to(media)]
    if not clashes:
        return []
    return [
        checks.Error(
            f"Client documents ({media}) would be inside a static files directory ({clashes[0]}).",
            hint="Point MEDIA_ROOT outside STATIC_ROOT and STATICFILES_DIRS.",
            id="cases.E001",
        )
    ]
