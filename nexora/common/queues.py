"""Celery routing of chain work: one ``chain`` queue (default), or a queue per network family.

With ``NEXORA_CHAIN_QUEUES=per_family`` the scanner's and the tx lookups' tasks go to
``chain.evm``, ``chain.tron`` or ``chain.bitcoin``, so each machine can run workers for the families
it is close to (an EVM node next to the EVM workers; TronGrid's API key only where TRON runs), and a
slow family never delays another. Several workers may consume one queue: the scanner's
per-network lock still lets exactly one of them scan a network at a time.

The router reads the family from the database (the task carries ids, not rows). A network's
family never changes once it has top-ups, so it is cached per network id for the process's life;
a lookup's network is read each time (lookups are rare). An id that does not exist goes to the
shared ``chain`` queue, where the task fails as it would have anyway.
"""

from __future__ import annotations

import functools
from typing import Any

SHARED = "chain"


@functools.lru_cache(maxsize=1024)
def network_family(network_id: int) -> str | None:
    from payments.models import Network

    return Network.objects.filter(pk=network_id).values_list("family", flat=True).first()


def lookup_family(lookup_id: int) -> str | None:
    from payments.models import TxLookup

    return TxLookup.objects.filter(pk=lookup_id).values_list("topup__network__family", flat=True).first()


def _first_id(args: Any, kwargs: Any, name: str) -> int | None:
    value = kwargs.get(name) if kwargs else None
    if value is None and args:
        value = args[0]
    return value if isinstance(value, int) else None


def chain_queue_per_family(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **extra: Any
) -> dict[str, str] | None:
    """A Celery router (``CELERY_TASK_ROUTES``): other tasks fall through to the default queue."""
    if name == "payments.scan_network":
        ident = _first_id(args, kwargs, "network_id")
        family = network_family(ident) if ident is not None else None
    elif name == "payments.tx_lookup":
        ident = _first_id(args, kwargs, "lookup_id")
        family = lookup_family(ident) if ident is not None else None
    else:
        return None
    return {"queue": f"{SHARED}.{family}" if family else SHARED}
