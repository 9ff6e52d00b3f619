"""The client area's pages: new top-up, the top-up (payment) page, and history.

Views are thin: parse the request, call one service or selector, render. A ``NexoraError`` from a
service is shown next to its field (``payments.forms``) with HTTP 400 (503 when a dependency is
down) and nothing is written; another client's top-up id is a 404 (``topup_for_client``).

The rest of this module is presentation, in one place so the page and its script agree:

* ``STATES``: what a client is told about a top-up. The key is ``topup_state``: "under_review"
  when an AML hold is on (only ever that neutral text: no rule, list or reason, invariant 8),
  else ``status:exception`` when that pair has its own text, else ``status``. The page script
  (``payments/static/payments/topup.js``) gets the same texts as JSON and applies the same
  three-line rule to each poll of ``GET /api/v1/topups/<id>/``, so live updates stay translated.
* The QR code is an inline SVG made on the server with ``segno`` (no script, no image request).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from nexora.accounts.models import ClientProfile
from nexora.common.errors import NexoraError, NotFound
from payments.forms import TopUpForm, TxHashForm, form_idempotency_key, form_key_new
from payments.models import Deposit, LedgerEntry, Network, TopUp
from payments.selectors.ledger import balance_get, client_entries
from payments.selectors.topups import (
    client_deposit_status,
    explorer_tx_url,
    networks_enabled,
    topup_confirmations,
    topup_for_client,
    topup_paid_units,
    topup_payment_uri,
    topup_under_review,
    topups_for_client,
)
from payments.services.lookups import topup_tx_submit
from payments.services.topups import topup_create

View = Callable[..., HttpResponse]
TOPUPS_PER_PAGE, ENTRIES_PER_PAGE = 20, 25
OPEN, TERMINAL = ("awaiting_payment", "confirming"), ("completed", "expired", "invalid")

# state key -> (title, explanation, tone); tone is a CSS modifier of the status badge.
STATES: dict[str, tuple[Promise, Promise, str]] = {
    "awaiting_payment": (
        _("Waiting for your payment"),
        _("Send the exact amount below to this address. We detect the payment automatically."),
        "info",
    ),
    "awaiting_payment:underpaid": (
        _("Partly paid"),
        _("We received less than the quoted amount. Send the rest to the same address before the time "
          "runs out."),
        "warning",
    ),
    "awaiting_payment:below_minimum": (
        _("Waiting for your payment"),
        _("A payment below this network's minimum arrived and cannot be credited automatically. "
          "Please send the full amount."),
        "warning",
    ),
    "confirming": (
        _("Payment seen, waiting for confirmations"),
        _("Your payment is on the blockchain. It is credited once the network has confirmed it enough "
          "times."),
        "progress",
    ),
    "completed": (_("Completed"), _("The payment was credited to your balance."), "success"),
    "completed:underpaid": (
        _("Completed"),
        _("You sent less than the quoted amount; what we received was credited to your balance."),
        "success",
    ),
    "completed:overpaid": (
        _("Completed"),
        _("You sent more than the quoted amount; what we received was credited to your balance."),
        "success",
    ),
    "completed:paid_late": (
        _("Completed"),
        _("The payment arrived after the quote expired and was credited at the exchange rate of its "
          "arrival."),
        "success",
    ),
    "expired": (
        _("Expired"),
        _("The time to pay ran out before a payment arrived. Please do not send funds to this address; "
          "create a new top-up instead."),
        "muted",
    ),
    "expired:below_minimum": (
        _("Expired"),
        _("A payment below this network's minimum arrived and could not be credited automatically. "
          "Please contact support."),
        "muted",
    ),
    "invalid": (
        _("Cancelled"),
        _("This top-up was cancelled. If you have already sent a payment, please contact support."),
        "danger",
    ),
    "under_review": (
        _("Under review"),
        _("Your payment has arrived and is being reviewed. The funds become available when the review "
          "is complete; we will let you know."),
        "review",
    ),
}  # fmt: skip

DEPOSIT_STATES: dict[str, Promise] = {
    "confirming": _("Confirming"),
    "credited": _("Credited"),
    "under_review": _("Under review"),
    "received": _("Received; our support team will contact you"),
    "failed": _("Failed on the blockchain"),
    "dropped": _("Dropped by the network"),
    "reversed": _("Reversed"),
}

# What the tx-hash form says after a lookup, by the lookup's status (its refusals are in forms.py).
LOOKUP_MESSAGES: dict[str, Promise] = {
    "found": _("We found your payment. It is credited once the network has confirmed it."),
    "pending": _("We see your payment waiting to be included in a block. It appears here once it is mined."),
    "queued": _("Thank you. We are looking up your transaction now."),
}

ENTRY_KINDS: dict[str, Promise] = {
    "topup": _("Top-up"),
    "charge": _("Charge"),
    "hold": _("Moved to held funds"),
    "release": _("Released from held funds"),
    "capture": _("Settled from held funds"),
    "refund": _("Refund"),
    "reversal": _("Correction"),
    "adjustment": _("Adjustment"),
}

EVM_CHAINS: dict[int, Promise] = {
    1: _("Ethereum"),
    56: _("BNB Smart Chain"),
    137: _("Polygon"),
    31337: _("Local devnet"),
}


# --- presentation helpers ----------------------------------------------------------------------


def topup_state(topup: TopUp) -> str:
    if topup_under_review(topup):
        return "under_review"
    key = f"{topup.status}:{topup.exception}"
    return key if key in STATES else topup.status


def states_text() -> dict[str, dict[str, str]]:
    """The state texts in the current language, for the page script."""
    return {key: {"title": str(t), "detail": str(d), "tone": tone} for key, (t, d, tone) in STATES.items()}


def network_chain(network: Network) -> str:
    if network.family == "evm":
        chain = EVM_CHAINS.get(network.chain_id or 0)
        return str(chain) if chain else gettext("EVM chain %(id)s") % {"id": network.chain_id}
    return {"tron": "TRON", "bitcoin": "Bitcoin"}.get(network.family, network.family)


def network_warning(network: Network) -> SafeString:
    text = gettext(
        "Send only {asset} on the {network} network to this address. "
        "Other coins, or transfers on other networks, are lost."
    )
    strong = "<strong>{}</strong>"
    return format_html(
        text, asset=format_html(strong, network.asset), network=format_html(strong, network.name)
    )


def qr_svg(uri: str) -> SafeString:
    """The payment URI as an inline SVG QR code (always a full QR code: wallets do not read Micro QR)."""
    qr = segno.make(uri, error="m", micro=False)
    svg = qr.svg_inline(scale=4, border=2, dark="#000", light="#fff", omitsize=True, svgclass="qr")
    return mark_safe(svg)  # noqa: S308 - segno's markup: paths only, no input text in it


def _deposit_row(deposit: Deposit, topup: TopUp) -> dict[str, Any]:
    deposit.topup, deposit.network = topup, topup.network  # already loaded: no query per row
    status = client_deposit_status(deposit)
    return {
        "tx_hash": deposit.tx_hash,
        "explorer_url": explorer_tx_url(topup.network, deposit.tx_hash),
        "amount": topup.network.display(deposit.amount),
        "confirmations": min(deposit.confirmations, topup.network.confirmations),
        "status": status,
        "status_text": DEPOSIT_STATES.get(status, status),
        "credited_amount": deposit.credited_amount,
    }


def _entry_row(entry: LedgerEntry) -> dict[str, Any]:
    txn = entry.transaction
    reference = txn.reference.removeprefix("topup:") if txn.reference.startswith("topup:") else ""
    return {
        "entry": entry,
        "kind": ENTRY_KINDS.get(txn.kind, txn.kind),
        # Only a charge's text comes from the client's own order; hold texts may name a review reason.
        "description": txn.description if txn.kind == "charge" else "",
        "topup_url": reverse("client:topup", args=[reference]) if reference else "",
        "held": entry.account.kind == "held",
    }


def _page(items: Any, request: HttpRequest, param: str, per_page: int) -> Page:
    return Paginator(items, per_page).get_page(request.GET.get(param))


def _error_status(exc: NexoraError) -> int:
    return exc.status if exc.status >= 500 else 400


def client_required(view: View) -> View:
    """Log in first; then only clients (staff have no client area). The view gets the profile."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        profile = getattr(request.user, "client_profile", None)
        if not isinstance(profile, ClientProfile):
            raise PermissionDenied
        return view(request, profile, *args, **kwargs)

    return login_required(wrapped)


def _topup_get(client: ClientProfile, topup_id: str) -> TopUp:
    try:
        return topup_for_client(client, topup_id)
    except NotFound:
        raise Http404 from None


# --- new top-up ----------------------------------------------------------------------------------


def _new_context(client: ClientProfile, form: TopUpForm) -> dict[str, Any]:
    networks = [
        {"network": n, "chain": network_chain(n), "minimum": n.display(n.min_amount)}
        for n in networks_enabled()
    ]
    return {
        "form": form,
        "form_key": form_key_new(),
        "networks": networks,
        "balance": balance_get(client=client),
    }


@client_required
@require_http_methods(["GET", "POST"])
def topup_new(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    if request.method == "GET":
        form = TopUpForm(initial={"network": request.GET.get("network", "")})
        return render(request, "client/topup_new.html", _new_context(client, form))
    form = TopUpForm(request.POST)
    form.is_valid()  # optional strings: always valid; the service decides
    data = form.cleaned_data
    try:
        result = topup_create(
            client=client,
            network_code=data["network"],
            amount=data["amount"],
            idempotency_key=form_idempotency_key(data["form_key"]),
        )
    except NexoraError as exc:
        form.service_error_add(exc, network=networks_enabled().filter(code=data["network"]).first())
        return render(request, "client/topup_new.html", _new_context(client, form), status=_error_status(exc))
    return redirect("client:topup", topup_id=result.topup.public_id)


# --- the top-up page ---------------------------------------------------------------------------


def _topup_context(topup: TopUp, tx_form: TxHashForm) -> dict[str, Any]:
    network, uri, state = topup.network, topup_payment_uri(topup), topup_state(topup)
    title, detail, tone = STATES[state]
    deposits = [d for d in topup.deposits.all() if d.network_id == topup.network_id]
    return {
        "topup": topup, "network": network, "chain": network_chain(network),
        "warning": network_warning(network), "address": topup.address.address,
        "crypto_amount": network.display(topup.crypto_amount), "rate": f"{topup.rate.normalize():f}",
        "payment_uri": uri, "qr_svg": qr_svg(uri),
        "state": state, "state_title": title, "state_detail": detail, "state_tone": tone,
        "is_open": topup.status in OPEN, "is_terminal": topup.status in TERMINAL,
        "confirmations": topup_confirmations(topup), "paid": network.display(topup_paid_units(topup)),
        "deposits": [_deposit_row(d, topup) for d in deposits],
        "tx_form": tx_form, "show_tx_form": topup.status in (*OPEN, "expired"),
        "api_url": reverse("topup-detail", kwargs={"topup_id": str(topup.public_id)}),
        "live_texts": {"states": states_text(), "deposits": {k: str(v) for k, v in DEPOSIT_STATES.items()}},
    }  # fmt: skip


@client_required
@require_GET
def topup_detail(request: HttpRequest, client: ClientProfile, topup_id: str) -> HttpResponse:
    topup = _topup_get(client, topup_id)
    return render(request, "client/topup_detail.html", _topup_context(topup, TxHashForm()))


@client_required
@require_POST
def topup_tx_hash(request: HttpRequest, client: ClientProfile, topup_id: str) -> HttpResponse:
    topup = _topup_get(client, topup_id)
    form = TxHashForm(request.POST)
    form.is_valid()
    try:
        lookup = topup_tx_submit(topup=topup, tx_hash=form.cleaned_data["tx_hash"])
    except NexoraError as exc:
        form.service_error_add(exc)
        context = _topup_context(topup, form)
        return render(request, "client/topup_detail.html", context, status=_error_status(exc))
    messages.success(request, str(LOOKUP_MESSAGES.get(lookup.status, LOOKUP_MESSAGES["queued"])))
    return redirect("client:topup", topup_id=topup.public_id)


# --- history -----------------------------------------------------------------------------------


@client_required
@require_GET
def history(request: HttpRequest, client: ClientProfile) -> HttpResponse:
    topups = _page(topups_for_client(client), request, "page", TOPUPS_PER_PAGE)
    entries = _page(client_entries(client=client), request, "entries_page", ENTRIES_PER_PAGE)
    context = {
        "balance": balance_get(client=client),
        "topups": topups,
        "topup_rows": [{"topup": t, "state": STATES[topup_state(t)], "chain": network_chain(t.network),
                        "crypto_amount": t.network.display(t.crypto_amount)} for t in topups],
        "entries": entries,
        "entry_rows": [_entry_row(e) for e in entries],
    }  # fmt: skip
    return render(request, "client/history.html", context)
