"""Issuing deposit addresses: the next receive index of a watch-only key, derived and recorded.

The index comes from ``DerivationCounter`` with one ``UPDATE ... RETURNING`` in its own short
transaction (when the caller has none open): the row lock is held for that statement only, so
top-ups on one network do not queue behind each other's whole request. An index is therefore
consumed even if the caller later fails; indexes are never reused, a gap is harmless (the
treasury sweeps the addresses recorded here, not a gap-limited wallet scan).

The unique constraints on ``DepositAddress`` are the last guard: should an index ever come round
again (a counter restored from an old backup), the insert fails and the next index is taken.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction

from nexora.accounts.models import ClientProfile
from nexora.common.errors import ServiceUnavailable
from payments.derivation import address_derive
from payments.models import DepositAddress, DerivationCounter, Network

MAX_COLLISIONS = 5


def _counter(network: Network) -> DerivationCounter:
    counter, _ = DerivationCounter.objects.get_or_create(
        family=network.family, key_fingerprint=network.key_fingerprint
    )
    return counter


def derivation_index_allocate(*, network: Network) -> int:
    """Take the next receive index of the network's key (committed at once when possible)."""
    counter = _counter(network)
    table = DerivationCounter._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_index = next_index + 1 WHERE id = %s RETURNING next_index",  # noqa: S608
            [counter.pk],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0]) - 1


def address_issue(*, network: Network, client: ClientProfile) -> DepositAddress:
    """A never-used address of ``network``'s key, recorded as the client's for good."""
    for _ in range(MAX_COLLISIONS):
        index = derivation_index_allocate(network=network)
        address = address_derive(
            family=network.family,
            xpub=network.xpub,
            index=index,
            testnet=network.testnet,
            hrp=network.options.get("hrp"),
        )
        try:
            with transaction.atomic():
                return DepositAddress.objects.create(
                    family=network.family,
                    address=address,
                    key_fingerprint=network.key_fingerprint,
                    index=index,
                    network=network,
                    client=client,
                )
        except IntegrityError:
            continue  # the index or address was issued before (restored counter): take the next
    raise ServiceUnavailable("No fresh deposit address could be issued; the operator was alerted.")
