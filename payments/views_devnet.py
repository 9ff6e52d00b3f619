"""The top-up page's "Pay from the devnet wallet" button (POST, CSRF): the demo's way to pay.

Thin, like the other client pages (``payments.views``, whose page context and error rules it
reuses): the client's own top-up or a 404, one call to ``topup_devnet_pay``, then back to the page
with a message; a refusal re-renders the page with the reason in the box and HTTP 400 (503 when
the local chain does not answer), and nothing is sent. The service speaks English; the client
reads the message for its code in EN/RU/UK.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from nexora.accounts.models import ClientProfile
from nexora.common.errors import NexoraError
from payments.forms import TxHashForm
from payments.services.devnet import topup_devnet_pay
from payments.views import _error_status, _topup_context, _topup_get, client_required

DEVNET_ERRORS: dict[str, Promise] = {
    "devnet_wallet_disabled": _("Payments from the devnet wallet are switched off here."),
    "not_devnet": _("This network is not the local test network: only a real wallet can pay it."),
    "devnet_unreachable": _("The local test chain does not answer. Is the demo (make run) still running?"),
    "devnet_insufficient_funds": _("The devnet wallet does not hold enough for this payment."),
    "devnet_send_failed": _("The local test chain refused the payment."),
}


@client_required
@require_POST
def devnet_pay(request: HttpRequest, client: ClientProfile, topup_id: str) -> HttpResponse:
    topup = _topup_get(client, topup_id)
    try:
        payment = topup_devnet_pay(topup=topup)
    except NexoraError as exc:
        context = _topup_context(topup, TxHashForm())
        context["devnet_error"] = str(DEVNET_ERRORS.get(exc.code, exc.message))
        return render(request, "client/topup_detail.html", context, status=_error_status(exc))
    text = gettext("Sent %(amount)s %(asset)s from the devnet wallet (transaction %(tx)s). The status below "
                   "changes as the chain confirms it.")  # fmt: skip
    messages.success(request, text % {"amount": payment.amount, "asset": topup.network.asset,
                                      "tx": payment.tx_hash[:12] + "…"})  # fmt: skip
    return redirect("client:topup", topup_id=topup.public_id)
