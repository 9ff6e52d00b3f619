"""``{% devnet_wallet_form %}``: the top-up page's "Pay from the devnet wallet" box, shown only where
the devnet wallet may pay (``payments.services.devnet.devnet_wallet_available``) and the top-up is
still open. A tag rather than a context key, so the page's view does not change for a dev-only
feature; the box reads the page's own context (top-up, amount, CSRF token, an error to show)."""

from __future__ import annotations

from typing import Any

from django import template

from payments.services.devnet import devnet_wallet_available

register = template.Library()


@register.inclusion_tag("client/_devnet_wallet.html", takes_context=True)
def devnet_wallet_form(context: template.Context) -> dict[str, Any]:
    topup = context["topup"]
    return {
        "offered": bool(context.get("is_open")) and devnet_wallet_available(topup.network),
        "topup": topup,
        "amount": context.get("crypto_amount", ""),
        "asset": topup.network.asset,
        "error": context.get("devnet_error", ""),
        "csrf_token": context.get("csrf_token"),
    }
