"""The catalogue of notification events: what a client can be told, in neutral words (invariant 8).

Each event has a fixed title and body, translated into English, Russian and Ukrainian. The texts
never name a rule, a score, a list or a reason: whatever the review found, the client reads "Your
top-up is under review" or "We need some documents from you". The event codes are the interface
other modules call ``notification_send`` with; keep them stable:

================== ===================================================================
``topup_seen``          a payment to a top-up address appeared on chain (listener)
``topup_credited``      a deposit was credited to the available balance (listener)
``under_review``        a deposit was credited to the held balance, pending review (listener)
``released``            held funds were released to the available balance
``documents_requested`` documents are needed to finish a review (``due_date``, ``link``)
``refund_sent``         a refund was sent back on chain
``account_frozen``      the account is restricted while a review is in progress
``account_unfrozen``    the restriction was lifted
``account_terminated``  the account was closed
``statement_received``  the client's statement was added to their review
================== ===================================================================

Parameters are optional and only things the client already knows; they are shown as a list of
details under the body, so a text never depends on them and a caller that passes fewer gets the
same neutral message:

* ``amount`` (``Decimal``/``int``/decimal string; never a float) with ``currency`` (account
  currency, ``USD``) or ``asset`` (``USDT``);
* ``network``: the network's display name ("USDT (TRON, TRC-20)");
* ``topup``: the top-up's public id, rendered as a link to its page;
* ``link``: a path of this site (``/topups/``), for pages such as a document upload form;
* ``due_date``: a ``date`` (or ISO ``YYYY-MM-DD``), shown in the client's language.

An unknown event or parameter, or a value of the wrong shape, is a programming error and raises
``ValidationFailed`` (``unknown_notification_event``, ``invalid_notification_params``): free text
has no way into a notification.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.urls import Resolver404, resolve, reverse
from django.utils import formats, translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from nexora.common.errors import ValidationFailed


@dataclass(frozen=True)
class Event:
    title: Promise
    body: Promise


EVENTS: dict[str, Event] = {
    "topup_seen": Event(
        _("We can see your payment"),
        _("Your payment has appeared on the blockchain. We will credit it to your balance once the "
          "network has confirmed it."),
    ),
    "topup_credited": Event(
        _("Your top-up has been credited"),
        _("The payment has been credited to your balance."),
    ),
    "under_review": Event(
        _("Your top-up is under review"),
        _("Your payment has arrived and is being reviewed. The funds become available when the review "
          "is complete; we will let you know."),
    ),
    "released": Event(
        _("Your funds are available"),
        _("The review is complete and the funds are now available on your balance."),
    ),
    "documents_requested": Event(
        _("We need some documents from you"),
        _("To complete the review, we need some additional documents from you. Please upload them in "
          "your client area."),
    ),
    "refund_sent": Event(
        _("Your refund has been sent"),
        _("We have sent your funds back. They will arrive once the network has confirmed the "
          "transaction."),
    ),
    "account_frozen": Event(
        _("Your account is temporarily restricted"),
        _("Some features of your account are temporarily unavailable while we complete a review. We "
          "will let you know when it is finished."),
    ),
    "account_unfrozen": Event(
        _("Your account is fully available again"),
        _("The review is complete and all features of your account are available again."),
    ),
    "account_terminated": Event(
        _("Your account has been closed"),
        _("The service of your account has ended. If you have questions, please contact support."),
    ),
    "statement_received": Event(
        _("We have received your message"),
        _("Thank you. Your statement has been added to the review and will be considered by our team."),
    ),
}  # fmt: skip


# --- parameters -----------------------------------------------------------------------------------

_CODE = re.compile(r"[A-Z][A-Z0-9]{1,11}")
MAX_TEXT = 100


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Notification parameter {name!r}: {message}",
        code="invalid_notification_params",
        fields={name: [{"code": "invalid", "message": message}]},
    )


def _amount(name: str, value: Any) -> str:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise _invalid(name, "a Decimal, int or decimal string (never a float)")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _invalid(name, "not a decimal number") from None
    if not number.is_finite():
        raise _invalid(name, "not a finite number")
    return f"{number:f}"


def _code(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise _invalid(name, "an upper-case code such as USD or USDT")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise _invalid(name, f"a non-empty name of at most {MAX_TEXT} characters")
    return value.strip()


def _topup(name: str, value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise _invalid(name, "a top-up's public id") from None


def _link(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        raise _invalid(name, "a path of this site, such as /topups/")
    try:
        resolve(value.split("?", 1)[0])
    except Resolver404:
        raise _invalid(name, "no page of this site has this path") from None
    return value


def _due_date(name: str, value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()[:10]
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise _invalid(name, "a date (YYYY-MM-DD)") from None


PARAMS: dict[str, Callable[[str, Any], str]] = {
    "amount": _amount,
    "currency": _code,
    "asset": _code,
    "network": _text,
    "topup": _topup,
    "link": _link,
    "due_date": _due_date,
}


def event_get(event: str) -> Event:
    try:
        return EVENTS[event]
    except KeyError:
        raise ValidationFailed(
            f"Unknown notification event {event!r}.", code="unknown_notification_event"
        ) from None


def params_clean(params: Mapping[str, Any] | None) -> dict[str, str]:
    """The parameters as JSON-safe strings, or ``ValidationFailed`` if any is unknown or malformed."""
    unknown = sorted(set(params or {}) - set(PARAMS))
    if unknown:
        raise _invalid(unknown[0], f"unknown parameter; allowed: {', '.join(PARAMS)}")
    return {name: PARAMS[name](name, value) for name, value in (params or {}).items() if value is not None}


# --- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    details: list[tuple[str, str]] = field(default_factory=list)
    path: str = ""  # a page of this site about it, if any

    @property
    def url(self) -> str:
        return site_url(self.path) if self.path else ""


def site_url(path: str) -> str:
    return settings.NEXORA_SITE_URL.rstrip("/") + path


def _details(params: Mapping[str, str]) -> list[tuple[str, str]]:
    details = []
    if "amount" in params:
        unit = params.get("currency") or params.get("asset") or ""
        details.append((gettext("Amount"), f"{params['amount']} {unit}".strip()))
    if "network" in params:
        details.append((gettext("Network"), params["network"]))
    if "due_date" in params:
        due = formats.date_format(date.fromisoformat(params["due_date"]), "DATE_FORMAT")
        details.append((gettext("Due date"), due))
    return details


def _path(params: Mapping[str, str]) -> str:
    if "link" in params:
        return params["link"]
    if "topup" in params:
        return reverse("client:topup", args=[params["topup"]])
    return ""


def event_render(*, event: str, params: Mapping[str, str], language: str | None = None) -> Rendered:
    """The texts of a notification in ``language`` (default: the active language)."""
    spec = event_get(event)
    with translation.override(language or translation.get_language()):
        return Rendered(str(spec.title), str(spec.body), _details(params), _path(params))
