"""Forms of the client's review page: they carry raw input to a service and show its errors.

Validation lives in ``aml.cases.documents`` (and payments' address checks), so every refusal has one
stable code; these forms only declare fields and word each code for the client in EN/RU/UK. The
wording is neutral: it says what to fix, never why the review exists (invariant 8).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from payments.forms import ServiceErrorForm
from payments.models import Network

REVIEW_MESSAGES: dict[str, Promise] = {
    "file_required": _("Choose a file to upload."),
    "file_empty": _("The file is empty."),
    "file_type_not_allowed": _("Upload a PDF, PNG or JPEG file."),
    "invalid_item": _("Choose one of the requested documents."),
    "request_closed": _("This request is closed."),
    "too_many_documents": _("This request cannot take more files. Please contact support."),
    "statement_empty": _("Please write your message."),
    "text_too_long": _("Your message is too long: at most 5000 characters."),
    "invalid_kind": _("Please try again."),
    "no_review": _("There is nothing under review on your account."),
    "invalid_address": _("This is not a valid address for this network."),
    "own_address": _("This is one of our deposit addresses. Please give an address of your own wallet."),
    "refund_address_not_requested": _("We have not asked you for a refund address."),
    "refund_address_superseded": _("You have given a newer address since; please confirm that one."),
    "refund_address_refused": _("This address cannot be used. Please contact support."),
    "wrong_password": _("The password is not correct."),
    "too_many_attempts": _("Too many wrong passwords. Please try again in an hour."),
    "invalid_transition": _("This changed in the meantime. Please reload the page."),
    "stale_state": _("This changed in the meantime. Please reload the page."),
}


class ReviewForm(ServiceErrorForm):
    own_messages = REVIEW_MESSAGES

    def _message(self, code: str, fallback: str, network: Network | None) -> str:
        if code == "file_too_large":
            limit = settings.NEXORA_DOCUMENT_MAX_BYTES // (1024 * 1024)
            return gettext("Files can be at most %(mb)s MB.") % {"mb": limit}
        return super()._message(code, fallback, network)


class UploadForm(ReviewForm):
    item = forms.CharField(required=False)
    file = forms.FileField(required=False)
    conflict_field = "file"


class StatementForm(ReviewForm):
    text = forms.CharField(required=False, strip=False)
    contest = forms.BooleanField(required=False)
    conflict_field = "text"


class RefundAddressForm(ReviewForm):
    address = forms.CharField(required=False)
    conflict_field = "address"


class RefundConfirmForm(ReviewForm):
    password = forms.CharField(required=False, strip=False)
    conflict_field = "password"
