"""A transaction hash the client pasted: looked up at once, so a payment is seen without waiting for
a scan, and a hash that cannot pay the top-up is refused with the reason.

``topup_tx_submit`` (the API's and the page's tx-hash form) asks the top-up's network right away,
with a short timeout (``NEXORA_TX_LOOKUP_TIMEOUT_S``), through the adapter's ``lookup``:

* it pays the top-up's address on this network: recorded through ``deposit_observe`` (the scanner's
  own path, so a payment found both ways is one deposit, unique on network, tx hash and index, and
  credited once; the scanner confirms it as usual) -> lookup ``found``;
* it is a token payment still in the mempool: its log index (half of its identity) does not exist
  yet, so nothing is recorded; ``pending``, and the task looks again until it is mined;
* the node cannot be reached: ``queued`` and the task retries, exactly as before this fast path
  existed. A node outage never makes the client's request fail;
* otherwise ``400`` with the reason, and nothing is written: ``failed_transaction`` (it paid the
  address but reverted), ``wrong_network`` (it pays this address on another enabled network of
  the same family, e.g. BEP-20 instead of ERC-20, or ETH instead of USDT: the other networks'
  adapters are asked in parallel; the field error names the network), ``not_to_this_address``
  (a node knows the transaction, it does not pay this address) or ``tx_not_found``. When one of
  the other networks cannot be asked, the hash is queued rather than refused on a guess.

``tx_lookup_run`` is the task's side (``payments.tx_lookup``): the same lookup on the top-up's
network, recording what it finds; a ``ChainError`` propagates so the task retries.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from nexora.common.errors import Conflict, ValidationFailed
from nexora.common.transitions import TransitionTable, transition_apply
from payments.addresses import tx_hash_validate
from payments.chains.base import ChainError, TxInspector, TxReport, confirmation_head
from payments.models import Deposit, Network, TopUp, TxLookup, TxLookupStatus
from payments.services.deposits import deposit_observe, utc_from_timestamp
from payments.services.networks import network_spec

L = TxLookupStatus
TXLOOKUP_TRANSITIONS: TransitionTable = {
    L.QUEUED: frozenset({L.PENDING, L.FOUND, L.NOT_FOUND}),
    L.PENDING: frozenset({L.FOUND, L.NOT_FOUND}),
    L.NOT_FOUND: frozenset({L.PENDING, L.FOUND}),
    L.FOUND: frozenset(),
}
InspectorFor = Callable[[Network], TxInspector]


def txlookup_transition(lookup: TxLookup, *, to: str, reason: str = "", **fields: Any) -> TxLookup:
    return transition_apply(
        lookup, table=TXLOOKUP_TRANSITIONS, to=to, entity="txlookup", reason=reason, extra_fields=fields
    )


def network_inspector(network: Network, *, timeout_s: float | None = None) -> TxInspector:
    """The network's adapter for one-transaction lookups, optionally with a shorter timeout."""
    from payments.chains.registry import inspector_for

    spec = network_spec(network)
    return inspector_for(spec if timeout_s is None else replace(spec, timeout_s=timeout_s))


def _quick_inspector(network: Network) -> TxInspector:
    return network_inspector(network, timeout_s=float(settings.NEXORA_TX_LOOKUP_TIMEOUT_S))


# --- what the node says ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    """A lookup's answer on the top-up's network, with what recording its transfers needs."""

    report: TxReport
    head: int | None = None  # the confirmation head (``confirmation_head``), when there is a transfer
    block_times: dict[int, datetime] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.report.transfers:
            return L.FOUND
        return L.PENDING if self.report.unmined_tokens else L.NOT_FOUND


def _sight(inspector: TxInspector, network: Network, tx_hash: str, address: str) -> Sighting:
    """Ask the node; raises its ChainError."""
    report = inspector.lookup(tx_hash, {address})
    if not report.transfers:
        return Sighting(report)
    head = confirmation_head(inspector, inspector.head(), network.confirmations)
    heights = {t.block_height for t in report.transfers if t.block_height is not None}
    times = {h: utc_from_timestamp(inspector.block_ref(h).timestamp) for h in heights}
    return Sighting(report, head, times)


def _observe(network: Network, sighting: Sighting) -> None:
    for transfer in sighting.report.transfers:
        height = transfer.block_height
        block_time = sighting.block_times.get(height) if height is not None else None
        deposit_observe(network=network, transfer=transfer, head=sighting.head, block_time=block_time)


def _settle(lookup: TxLookup, sighting: Sighting) -> bool:
    """Record the sighting and move the lookup to its status; True if it just became ``pending``."""
    _observe(lookup.topup.network, sighting)
    target = sighting.status
    if target == lookup.status:
        return False
    count = len(sighting.report.transfers) + len(sighting.report.unmined_tokens)
    txlookup_transition(lookup, to=target, reason=f"{count} payment(s) to the top-up's address")
    return target == L.PENDING


# --- the task's side ---------------------------------------------------------------------------


def _locked(lookup_id: int) -> TxLookup:
    """The lookup under its row lock (only its own row: the top-up is locked later, by the deposit
    services, in their usual order)."""
    rows = TxLookup.objects.select_for_update(of=("self",)).select_related("topup__network", "topup__address")
    return rows.get(pk=lookup_id)


def tx_lookup_run(*, lookup_id: int, inspector: TxInspector | None = None) -> TxLookup:
    """Look the hash up once on the top-up's network; record what was found. Raises ChainError."""
    lookup = TxLookup.objects.select_related("topup__network", "topup__address").get(pk=lookup_id)
    if lookup.status == L.FOUND:
        return lookup
    network = lookup.topup.network
    TxLookup.objects.filter(pk=lookup.pk).update(attempts=F("attempts") + 1)
    inspector = inspector or network_inspector(network)
    sighting = _sight(inspector, network, lookup.tx_hash, lookup.topup.address.address)
    with transaction.atomic():
        lookup = _locked(lookup_id)  # a second delivery of the task waits here, then sees ``found``
        if lookup.status != L.FOUND:
            _settle(lookup, sighting)
    return lookup


# --- the client's request ----------------------------------------------------------------------


def _refusal(code: str, message: str, **extra: str) -> ValidationFailed:
    item = {"code": code, "message": message, **extra}
    return ValidationFailed(message, code=code, fields={"tx_hash": [item]})


@dataclass(frozen=True)
class Elsewhere:
    """What the family's other enabled networks say about the hash."""

    paid_on: Network | None = None  # the first one on which it pays the top-up's address
    known: bool = False  # some node has the transaction
    unsure: bool = False  # some node could not be asked


def _elsewhere(topup: TopUp, tx_hash: str, inspector_for: InspectorFor) -> Elsewhere:
    others = Network.objects.filter(family=topup.network.family, enabled=True).exclude(pk=topup.network_id)
    asked = [(network, inspector_for(network)) for network in others.order_by("code")]
    if not asked:
        return Elsewhere()
    watched = {topup.address.address}

    def ask(pair: tuple[Network, TxInspector]) -> TxReport | None:
        try:
            return pair[1].lookup(tx_hash, watched)
        except ChainError:
            return None

    with ThreadPoolExecutor(max_workers=min(4, len(asked))) as pool:  # the wait is the slowest node's
        reports = list(pool.map(ask, asked))
    paid = [n for (n, _), r in zip(asked, reports, strict=True) if r and (r.transfers or r.unmined_tokens)]
    return Elsewhere(
        paid_on=paid[0] if paid else None,
        known=any(r is not None and r.known for r in reports),
        unsure=any(r is None for r in reports),
    )


def _verdict(topup: TopUp, tx_hash: str, inspector_for: InspectorFor) -> Sighting | None:
    """The sighting to record; None to queue a lookup; raises why the hash cannot pay this top-up."""
    network = topup.network
    try:
        sighting = _sight(inspector_for(network), network, tx_hash, topup.address.address)
    except ChainError:
        return None  # the node is unreachable: the task will ask again
    report = sighting.report
    if report.transfers and not any(t.success for t in report.transfers):
        raise _refusal("failed_transaction", "This transaction failed on the blockchain and moved no funds.")
    if report.transfers or report.unmined_tokens:
        return sighting
    elsewhere = _elsewhere(topup, tx_hash, inspector_for)
    if elsewhere.paid_on is not None:
        raise _refusal(
            "wrong_network",
            f"This transaction pays this address on {elsewhere.paid_on.name}, not on {network.name}. "
            "Payments sent on another network are not credited automatically; please contact support.",
            network=elsewhere.paid_on.code,
        )
    if elsewhere.unsure:
        return None
    if report.known or elsewhere.known:
        message = f"This transaction does not send {network.asset} to this top-up's address on {network.name}"
        raise _refusal("not_to_this_address", message + ".")
    raise _refusal(
        "tx_not_found",
        f"No transaction with this hash was found on {network.name}. Check the hash, or try again in a "
        "minute if you have just sent it.",
    )


def _canonical(topup: TopUp, tx_hash: object) -> str:
    try:
        canonical = tx_hash_validate(topup.network.family, tx_hash if isinstance(tx_hash, str) else "")
    except ValidationFailed as exc:
        raise _refusal(exc.code, exc.message) from None
    if Deposit.objects.filter(network=topup.network, tx_hash=canonical).exclude(topup=topup).exists():
        raise Conflict("This transaction was already credited to another top-up.", code="tx_hash_taken")
    return canonical


def _save(topup: TopUp, tx_hash: str, sighting: Sighting | None) -> TxLookup:
    from payments.tasks import tx_lookup_enqueue

    with transaction.atomic():
        lookup, created = TxLookup.objects.get_or_create(topup=topup, tx_hash=tx_hash)
        lookup = _locked(lookup.pk)
        TxLookup.objects.filter(pk=lookup.pk).update(attempts=F("attempts") + 1)
        if lookup.status == L.FOUND:  # a request for the same hash found it meanwhile
            return lookup
        # queue the task when nothing is retrying this hash yet, or it just became pending
        unsettled = created or lookup.status == L.NOT_FOUND
        if unsettled if sighting is None else _settle(lookup, sighting):
            transaction.on_commit(lambda: tx_lookup_enqueue(lookup.pk))
    return lookup


def topup_tx_submit(*, topup: TopUp, tx_hash: object, inspector_for: InspectorFor | None = None) -> TxLookup:
    """Look up a hash the client pasted; see the module docstring. 400 (nothing written) if it
    cannot pay this top-up, 409 if it paid another one."""
    canonical = _canonical(topup, tx_hash)
    found = TxLookup.objects.filter(topup=topup, tx_hash=canonical, status=L.FOUND).first()
    if found is not None:
        return found
    sighting = _verdict(topup, canonical, inspector_for or _quick_inspector)
    return _save(topup, canonical, sighting)
