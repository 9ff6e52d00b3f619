"""The data categories of accounts, payments and privacy itself, registered at start-up.

``payments`` must not import ``nexora.privacy`` (its models are read here, never changed in code),
so its categories are declared on its behalf in this module; the AML and notification apps
register their own from their ``ready()`` with the same call (``nexora.privacy.registry``).

Per category: rows, clock, period; what happens after the period; what happens on erasure.

* profile (ClientProfile + User), closure, account (3 y): the person is anonymised once no legal
  record of theirs is inside its period. On erasure: contact data and login go at once; the name
  stays with the legal records.
* security_log (SecurityEvent), event time, security_log (12 m): deleted. Kept on erasure (security).
* topups, charges, holds, creation, financial (5 y): kept (no personal data but the client link).
* deposits, creation, financial: the sending address is removed; the rest is kept.
* ledger (LedgerEntry), creation, financial: kept, never deleted (balances derive from it).
* tx_lookups (TxLookup: hashes the client pasted), creation, technical_log (12 m): deleted.
* erasure_requests, decision, account (3 y): deleted (kept until then as proof of the answer).
* payouts (PayoutRequest: refunds to source), finish, financial: the payment's source address and
  the staff's reasons are removed; the amount, destination and outgoing transaction stay. The
  destination and hash are what identifies the outgoing transfer (unique together, so one
  transfer can never count for two refunds) and are public on the chain under that hash anyway.
  A refund still in progress has no finish date: it is inside its period (and blocks erasure).
* refund_addresses (addresses the client gave for a refund), last change, financial: the address
  is removed. The client's current confirmed address is kept while it is in use, and goes when
  the person is anonymised (in the same run: the profile comes first).

Financial categories are kept on erasure until their period ends. A refund in progress blocks
erasure (``payout_in_progress``): the money is on its way back to the client.

Exports follow the client area's rules: hold reasons and non-charge ledger descriptions can name a
review reason, so they are left out (invariant 8); the review flag of a top-up is the neutral
"under review" the client already sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from nexora.accounts.models import ClientProfile, SecurityEvent
from nexora.accounts.otp import otp_enabled
from nexora.privacy.registry import (
    BASIS_ACCOUNTABILITY,
    BASIS_ACCOUNTING,
    BASIS_SECURITY,
    Action,
    Row,
    category_register,
    erasure_check_register,
)
from nexora.privacy.services.anonymise import profiles_anonymise


def profile_rows(client: ClientProfile) -> Iterable[Row]:
    user = client.user
    yield {
        "client_id": client.pk,
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language": client.language,
        "currency": client.currency,
        "account_status": client.status,
        "telegram_chat_id": client.telegram_chat_id,
        "notify_email": client.notify_email,
        "notify_telegram": client.notify_telegram,
        "two_factor": otp_enabled(user),
        "created_at": client.created_at,
        "closed_at": client.closed_at,
    }


def security_rows(client: ClientProfile) -> Iterable[Row]:
    events = SecurityEvent.objects.filter(user_id=client.user_id).order_by("created_at", "id")
    for event in events:
        yield {
            "created_at": event.created_at,
            "kind": event.kind,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "detail": event.detail,
        }


def topup_rows(client: ClientProfile) -> Iterable[Row]:
    from payments.models import ReviewFlag, TopUp

    for topup in TopUp.objects.filter(client=client).select_related("network", "address").order_by("id"):
        yield {
            "id": topup.public_id,
            "created_at": topup.created_at,
            "network": topup.network.code,
            "address": topup.address.address,
            "amount": topup.amount,
            "currency": topup.currency,
            "rate": topup.rate,
            "crypto_amount": topup.network.display(topup.crypto_amount),
            "asset": topup.network.asset,
            "status": topup.status,
            "exception": topup.exception,
            "under_review": topup.review == ReviewFlag.ON_HOLD,
            "credited_amount": topup.credited_amount,
            "expires_at": topup.expires_at,
            "completed_at": topup.completed_at,
        }


def deposit_rows(client: ClientProfile) -> Iterable[Row]:
    from payments.models import Deposit

    deposits = Deposit.objects.filter(client=client).select_related("network", "address", "topup")
    for deposit in deposits.order_by("id"):
        yield {
            "network": deposit.network.code,
            "tx_hash": deposit.tx_hash,
            "index": deposit.index,
            "to_address": deposit.address.address,
            "from_address": deposit.sender,
            "amount": deposit.network.display(deposit.amount),
            "asset": deposit.network.asset,
            "block_height": deposit.block_height,
            "confirmations": deposit.confirmations,
            "status": deposit.status,
            "credited_amount": deposit.credited_amount,
            "rate": deposit.rate,
            "topup": deposit.topup.public_id if deposit.topup else None,
            "seen_at": deposit.seen_at,
            "credited_at": deposit.credited_at,
        }


def ledger_rows(client: ClientProfile) -> Iterable[Row]:
    from payments.models import LedgerEntry, TransactionKind

    entries = LedgerEntry.objects.filter(account__client=client).select_related("transaction", "account")
    for entry in entries.order_by("id"):
        txn = entry.transaction
        yield {
            "id": entry.pk,
            "created_at": entry.created_at,
            "kind": txn.kind,
            "account": entry.account.kind,
            "amount": entry.amount,
            "currency": entry.currency,
            "description": txn.description if txn.kind == TransactionKind.CHARGE else "",
            "topup": txn.reference.removeprefix("topup:") if txn.reference.startswith("topup:") else "",
        }


def charge_rows(client: ClientProfile) -> Iterable[Row]:
    from payments.models import Charge

    for charge in Charge.objects.filter(client=client).order_by("id"):
        yield {
            "id": charge.pk,
            "created_at": charge.created_at,
            "amount": charge.amount,
            "currency": charge.currency,
            "description": charge.description,
            "order_ref": charge.order_ref,
            "status": charge.status,
        }


def erasure_rows(client: ClientProfile) -> Iterable[Row]:
    from nexora.privacy.models import ErasureRequest

    for erasure in ErasureRequest.objects.filter(client=client).order_by("id"):
        yield {
            "created_at": erasure.created_at,
            "status": erasure.status,
            "due_at": erasure.due_at,
            "decided_at": erasure.decided_at,
            "comment": erasure.comment,
            "kept": erasure.kept,
        }


def payout_rows(client: ClientProfile) -> Iterable[Row]:
    """The client's refunds; never the staff's reasons or the screening verdict (invariant 8)."""
    from payments.models import PayoutRequest

    payouts = PayoutRequest.objects.filter(client=client).select_related("network").order_by("id")
    for payout in payouts:
        yield {
            "id": payout.public_id,
            "created_at": payout.created_at,
            "network": payout.network.code,
            "amount": payout.amount,
            "currency": payout.currency,
            "crypto_amount": payout.network.display(payout.units),
            "asset": payout.network.asset,
            "destination": payout.destination,
            "status": payout.status,
            "tx_hash": payout.tx_hash,
            "sent_at": payout.sent_at,
            "finished_at": payout.finished_at,
        }


def refund_address_rows(client: ClientProfile) -> Iterable[Row]:
    from payments.models import RefundAddress

    addresses = RefundAddress.objects.filter(client=client).select_related("network").order_by("id")
    for refund_address in addresses:
        yield {
            "network": refund_address.network.code,
            "address": refund_address.address,
            "status": refund_address.status,
            "created_at": refund_address.created_at,
            "confirmed_at": refund_address.confirmed_at,
        }


def payouts_anonymise(payouts: Any) -> int:
    """Past five years after a refund finished: its source address and the staff's reasons go."""
    return int(payouts.update(source_address="", reason="", decided_reason="", failure_reason=""))


def refund_addresses_anonymise(addresses: Any) -> int:
    return int(addresses.update(address=""))


def payout_in_progress(client: ClientProfile) -> str | None:
    from payments.models import PayoutRequest, PayoutStatus

    moving = [PayoutStatus.REQUESTED, PayoutStatus.APPROVED, PayoutStatus.SENT]
    if PayoutRequest.objects.filter(client=client, status__in=moving).exists():
        return translation.gettext("A refund is still in progress: wait until it is confirmed or rejected.")
    return None


def deposits_anonymise(deposits: Any) -> int:
    """Past five years, the client's sending address is no longer needed (refunds, AML)."""
    return int(deposits.update(sender=""))


def _financial(name: str, model: str, title: Any, **extra: Any) -> None:
    category_register(
        name=name, model=model, owner="client", clock="created_at", period="financial",
        title=title, basis=BASIS_ACCOUNTING, **{"action": Action.KEEP, **extra},
    )  # fmt: skip


def _payouts_register() -> None:
    # Open refunds have no finish date (inside their period); a confirmed address in use is
    # pending only once its client is anonymised (``early``), so a refund can still reach it.
    payout_pending = ~Q(source_address="") | ~Q(reason="") | ~Q(decided_reason="") | ~Q(failure_reason="")
    category_register(
        name="payouts", model="payments.PayoutRequest", owner="client", clock="finished_at",
        period="financial", action=Action.ANONYMISE, anonymise=payouts_anonymise,
        pending=Q(finished_at__isnull=False) & payout_pending, title=_("Refunds"),
        basis=BASIS_ACCOUNTING, export=payout_rows,
    )  # fmt: skip
    category_register(
        name="refund_addresses", model="payments.RefundAddress", owner="client", clock="updated_at",
        period="financial", action=Action.ANONYMISE, anonymise=refund_addresses_anonymise,
        pending=~Q(address="") & (~Q(status="confirmed") | Q(client__anonymised_at__isnull=False)),
        early=Q(client__anonymised_at__isnull=False), title=_("Addresses you gave for refunds"),
        basis=BASIS_ACCOUNTING, export=refund_address_rows,
    )  # fmt: skip
    erasure_check_register(payout_in_progress)


def categories_register() -> None:
    category_register(
        name="profile", model="accounts.ClientProfile", owner="", clock="closed_at", period="account",
        action=Action.ANONYMISE, anonymise=profiles_anonymise, pending=Q(anonymised_at__isnull=True),
        early=Q(erasure_requests__status="completed"), waits_for_legal=True,
        title=_("Your profile"), export=profile_rows,
    )  # fmt: skip
    category_register(
        name="security_log", model="accounts.SecurityEvent", owner="user__client_profile",
        clock="created_at", period="security_log", action=Action.DELETE,
        title=_("Security log (logins, IP addresses, browsers)"), basis=BASIS_SECURITY, export=security_rows,
    )  # fmt: skip
    _financial("topups", "payments.TopUp", _("Top-ups"), export=topup_rows)
    _financial(
        "deposits", "payments.Deposit", _("Payments received"), action=Action.ANONYMISE,
        anonymise=deposits_anonymise, pending=~Q(sender=""), export=deposit_rows,
    )  # fmt: skip
    _financial("charges", "payments.Charge", _("Charges for services"), export=charge_rows)
    category_register(
        name="ledger", model="payments.LedgerEntry", owner="account__client", clock="created_at",
        period="financial", action=Action.KEEP, title=_("Balance movements"), basis=BASIS_ACCOUNTING,
        export=ledger_rows,
    )  # fmt: skip
    _financial("holds", "payments.Hold", _("Amounts held during a review"))
    _payouts_register()
    category_register(
        name="tx_lookups", model="payments.TxLookup", owner="topup__client", clock="created_at",
        period="technical_log", action=Action.DELETE, title=_("Transaction hashes you submitted"),
        basis=BASIS_SECURITY,
    )  # fmt: skip
    category_register(
        name="erasure_requests", model="privacy.ErasureRequest", owner="client", clock="decided_at",
        period="account", action=Action.DELETE, title=_("Your erasure requests"),
        basis=BASIS_ACCOUNTABILITY, export=erasure_rows,
    )  # fmt: skip
