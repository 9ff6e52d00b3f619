"""Client-area forms: they carry raw input to a service and show the service's errors, nothing more.

Validation lives in the services (``topup_create``, ``topup_tx_submit``), so the pages and the API
refuse the same input with the same stable codes and write nothing. A form here only

* declares its fields (all optional strings: a missing value is the service's ``unknown_network``
  or ``invalid_amount``, not a second, different rule in the form);
* turns a ``NexoraError`` into errors next to the field it names (``exc.fields``), or above the
  form when it names none (a frozen account, too many open top-ups);
* accepts a decimal comma in the amount ("10,50", as Russian and Ukrainian write it) when one or
  two digits follow it; "1,000" stays refused, never silently read as 1.00;
* translates each error by its code: the services speak English, the client reads EN/RU/UK. An
  unknown code falls back to the service's own message rather than hiding it.

``form_key_new`` makes the per-render key of the new-top-up form. It becomes the top-up's
idempotency key (``web:`` + key), so a double-clicked or re-sent form returns the first top-up
instead of issuing a second address. A key that does not look like one is ignored.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from nexora.common.errors import NexoraError
from payments.models import Network

_FORM_KEY = re.compile(r"^[0-9a-f]{32}$")
_DECIMAL_COMMA = re.compile(r"^(\d+),(\d{1,2})$")

ERROR_MESSAGES: dict[str, Promise] = {
    "unknown_network": _("Choose one of the networks listed."),
    "invalid_amount": _("Enter the amount as a number, for example 50 or 50.00."),
    "amount_not_positive": _("The amount must be greater than zero."),
    "too_many_decimals": _("Use at most two decimal places, for example 10.50."),
    "amount_too_large": _("This amount is above your account's top-up limit."),
    "amount_above_limit": _("This amount is above your account's top-up limit."),
    "account_frozen": _(
        "New top-ups are not available for your account at the moment. Please contact support."
    ),
    "too_many_open_topups": _("You have too many unpaid top-ups. Pay one or let it expire first."),
    "verification_required": _(
        "This top-up is above what your account can receive before verification. Choose a smaller "
        "amount, or contact support to verify your account and raise the limit."
    ),
    "idempotency_key_reused": _("This form was already sent with other values. Please try again."),
    "rate_unavailable": _("Exchange rates are unavailable right now. Please try again in a minute."),
    "service_unavailable": _("The service is temporarily unavailable. Please try again in a minute."),
    "invalid_tx_hash": _("This is not a valid transaction hash for this network."),
    "tx_hash_taken": _("This transaction was already credited to another top-up."),
    "tx_not_found": _(
        "No transaction with this hash was found on this network. Check the hash, or try again in a minute "
        "if you have just sent it."
    ),
    "not_to_this_address": _("This transaction does not pay this top-up's address on this network."),
    "failed_transaction": _("This transaction failed on the blockchain and moved no funds."),
    "wrong_network": _("This transaction was sent on another network than this top-up's."),
}


def form_key_new() -> str:
    return secrets.token_hex(16)


def form_idempotency_key(raw: object) -> str:
    """The idempotency key for a submitted form key; empty (no idempotency) if it is malformed."""
    return f"web:{raw}" if isinstance(raw, str) and _FORM_KEY.match(raw) else ""


def error_message(code: str, fallback: str, *, network: Network | None = None) -> str:
    if code == "amount_below_minimum" and network is not None:
        return gettext("The minimum on %(network)s is %(minimum)s %(asset)s.") % {
            "network": network.name,
            "minimum": network.display(network.min_amount),
            "asset": network.asset,
        }
    if code == "wrong_network" and network is not None:
        return gettext(
            "This transaction pays this address on %(network)s, not on this top-up's network. Payments "
            "sent on another network are not credited automatically; please contact support."
        ) % {"network": network.name}
    return str(ERROR_MESSAGES.get(code, fallback))


def _named_network(error: dict[str, str]) -> Network | None:
    """The network a field error names (``wrong_network`` says where the payment went)."""
    code = error.get("network")
    return Network.objects.filter(code=code).first() if code else None


class ServiceErrorForm(forms.Form):
    """A form that shows a ``NexoraError`` raised by the service it feeds."""

    conflict_field: str | None = None  # where an error naming no field goes (None: above the form)
    own_messages: Mapping[str, Promise] = {}  # codes this form words its own way (looked up first)

    def service_error_add(self, exc: NexoraError, *, network: Network | None = None) -> None:
        if not hasattr(self, "cleaned_data"):
            self.full_clean()
        field_errors = {name: errs for name, errs in exc.fields.items() if name in self.fields}
        for name, errors in field_errors.items():
            for error in errors:
                named = _named_network(error) or network
                self.add_error(name, self._message(error["code"], error["message"], named))
        if not field_errors:
            self.add_error(self.conflict_field, self._message(exc.code, exc.message, network))

    def _message(self, code: str, fallback: str, network: Network | None) -> str:
        if code in self.own_messages:
            return str(self.own_messages[code])
        return error_message(code, fallback, network=network)


class TopUpForm(ServiceErrorForm):
    network = forms.CharField(required=False)
    amount = forms.CharField(required=False)
    form_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_amount(self) -> str:
        amount: str = self.cleaned_data["amount"]
        return _DECIMAL_COMMA.sub(r"\1.\2", amount)


class TxHashForm(ServiceErrorForm):
    tx_hash = forms.CharField(required=False)
    conflict_field = "tx_hash"


class PayoutSentForm(ServiceErrorForm):
    """The treasury's record of a refund's outgoing transaction."""

    tx_hash = forms.CharField(required=False)
    conflict_field = "tx_hash"
    own_messages = {
        "invalid_tx_hash": _("This is not a valid transaction hash for this network."),
        "tx_hash_taken": _("This transaction is already recorded for another refund."),
        "invalid_transition": _("This refund is no longer waiting to be sent."),
        "stale_state": _("This refund changed meanwhile; reload the page."),
    }
