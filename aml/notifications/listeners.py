"""Listeners of payments' announcements: deposits become client notifications.

``payments`` announces after its transaction commits (``payments.hooks.announce``), so a rolled-back
credit is never told; a listener that fails is logged and ignored there, so telling can never undo
a credit.

* ``deposit_seen`` -> ``topup_seen`` with the crypto amount, asset, network and top-up link, only
  for a transfer on its way to being credited (``topup_seen`` says it will be): one that failed on
  chain, paid no top-up of its network or is below the minimum is left to the top-up page and staff.
* ``deposit_credited`` -> ``topup_credited`` (amount in the account currency) when the money went
  to ``available``; ``under_review`` with nothing but the top-up link when it went to ``held``: the
  client learns that a review is in progress, never why (invariant 8).

* ``payout_sent`` -> ``refund_sent`` with what the client will receive: the crypto amount, the
  asset and the network's name (never the reason of the refund, nor the case). Sent when the
  treasury records the outgoing transaction; the text says it arrives once the network confirms.

The dedupe key is the deposit (``deposit:<id>``) or the payout (``payout:<id>``): an announcement
repeated by a retried scan, a second worker or the treasury's form sent twice notifies once.
"""

from __future__ import annotations

from aml.notifications.selectors import deposit_notice, payout_notice
from aml.notifications.services import notification_send
from nexora.accounts.models import ClientProfile
from payments.hooks import DepositCredited, DepositSeen, PayoutUpdate, listener_register


def on_deposit_seen(fact: DepositSeen) -> None:
    notice = deposit_notice(deposit_id=fact.deposit_id)
    if notice is None or not notice.creditable:
        return
    client = ClientProfile.objects.select_related("user").get(pk=fact.client_id)
    notification_send(
        client=client, event="topup_seen", params=notice.params, dedupe_key=f"deposit:{fact.deposit_id}"
    )


def _credited_params(fact: DepositCredited) -> dict[str, str]:
    notice = deposit_notice(deposit_id=fact.deposit_id)
    topup = {"topup": notice.params["topup"]} if notice and "topup" in notice.params else {}
    if fact.held:
        return topup
    network = {"network": notice.params["network"]} if notice else {}
    return {"amount": str(fact.amount), "currency": fact.currency, **network, **topup}


def on_deposit_credited(fact: DepositCredited) -> None:
    client = ClientProfile.objects.select_related("user").get(pk=fact.client_id)
    notification_send(
        client=client,
        event="under_review" if fact.held else "topup_credited",
        params=_credited_params(fact),
        dedupe_key=f"deposit:{fact.deposit_id}",
    )


def on_payout_sent(fact: PayoutUpdate) -> None:
    params = payout_notice(payout_id=fact.payout_id)
    if params is None:
        return
    client = ClientProfile.objects.select_related("user").get(pk=fact.client_id)
    key = f"payout:{fact.payout_id}"
    notification_send(client=client, event="refund_sent", params=params, dedupe_key=key)


def listeners_register() -> None:
    listener_register("deposit_seen", on_deposit_seen)
    listener_register("deposit_credited", on_deposit_credited)
    listener_register("payout_sent", on_payout_sent)
