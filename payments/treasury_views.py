"""The treasury's page: approved refunds to send, their CSV, the outgoing hashes, and verification.

For staff holding ``payments.send_payout`` (the ``treasury`` role, or admin); anyone else gets a
403. The server holds no keys: the treasury downloads the CSV, signs and broadcasts offline, then
records each transaction's hash here (or with ``manage.py payout_sent``); the chain adapters verify
it (``payments.payout_verify``). Views parse, call one service or selector, and render; a refused
hash is shown next to its row with HTTP 400 and nothing is written.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from nexora.common.errors import NexoraError, NotFound
from payments.forms import PayoutSentForm
from payments.payout_export import payouts_csv_write
from payments.selectors.payouts import payout_by_public_id, payouts_in_flight, payouts_recent, payouts_to_send
from payments.services.payouts import payout_mark_sent
from payments.views import View

PERMISSION = "payments.send_payout"


def treasury_required(view: View) -> View:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_staff and user.has_perm(PERMISSION)):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _context(forms: dict[str, PayoutSentForm] | None = None) -> dict[str, Any]:
    forms = forms or {}
    to_send = [
        {
            "payout": p,
            "asset_amount": p.network.display(p.units),
            "form": forms.get(str(p.public_id), PayoutSentForm()),
        }
        for p in payouts_to_send()
    ]
    return {"to_send": to_send, "in_flight": list(payouts_in_flight()), "recent": list(payouts_recent())}


@treasury_required
@require_GET
def payouts(request: HttpRequest) -> HttpResponse:
    return render(request, "treasury/payouts.html", _context())


@treasury_required
@require_POST
def payout_sent(request: HttpRequest, payout_id: str) -> HttpResponse:
    try:
        payout = payout_by_public_id(payout_id)
    except NotFound:
        raise Http404 from None
    form = PayoutSentForm(request.POST)
    form.is_valid()
    try:
        payout_mark_sent(payout=payout, actor=request.user, tx_hash=form.cleaned_data["tx_hash"])
    except NexoraError as exc:
        form.service_error_add(exc, network=payout.network)
        status = exc.status if exc.status >= 500 else 400
        return render(request, "treasury/payouts.html", _context({payout_id: form}), status=status)
    messages.success(request, gettext("Recorded. The transaction is being verified on the blockchain."))
    return redirect("treasury:payouts")


@treasury_required
@require_GET
def payouts_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="refunds-{timezone.now():%Y%m%d-%H%M}.csv"'
    response["Cache-Control"] = "no-store"
    payouts_csv_write(response, payouts_to_send())
    return response
