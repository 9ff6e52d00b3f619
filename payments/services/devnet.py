"""The devnet: its networks on the running anvil, a restarted chain forgotten, and the devnet wallet.

* ``devnet_networks_load`` loads ``config/networks.devnet.yaml`` (the local chain, a public test
  key), pointed at the node the demo actually started and at the token it actually deployed, so a
  demo on another port or with another deployer still scans the right place.
* ``devnet_scan_reset`` is for a devnet chain started afresh (the demo's anvil keeps no state
  across runs): the stored cursor and block hashes describe a chain that no longer exists, and a
  payment still waiting for confirmations is gone with its block. The cursor and blocks are
  deleted (the next pass starts near the new head) and those deposits become ``reorged`` through
  ``deposit_reorg``, which puts their top-ups back to awaiting payment. Credited deposits stay as
  they are: the ledger is history, whatever happened to the chain.
* ``topup_devnet_pay`` sends a top-up's quoted amount (or ``amount``, in the asset) from anvil's
  first unlocked dev account to the top-up's address: a value transfer for the native coin, the
  token's ``transfer`` for a token. Only where ``devnet_wallet_available`` (the
  ``NEXORA_DEVNET_WALLET`` setting, never in production, on an EVM network marked ``testnet``
  whose node answers the network's chain id). Everything is checked before the one transaction is
  sent, so bad input sends nothing; the service writes nothing to the database: the scanner sees
  the payment like any other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from django.conf import settings
from django.db import transaction

from nexora.common.errors import (
    Conflict,
    NexoraError,
    PermissionDenied,
    ServiceUnavailable,
    ValidationFailed,
)
from payments.devnet import TOKEN_ABI, AnvilError, DevnetClient, RpcError
from payments.models import Deposit, DepositStatus, Family, Network, ScanCursor, ScannedBlock, TopUp
from payments.services.deposits import deposit_reorg
from payments.services.networks import amount_to_units, networks_load

logger = logging.getLogger(__name__)
DEVNET_CONFIG = Path(settings.BASE_DIR) / "config" / "networks.devnet.yaml"
DEVNET_RPC_TIMEOUT_S = 5.0
RESTART_REASON = "the devnet chain was restarted"


def devnet_entries() -> list[dict[str, Any]]:
    """The network entries of ``config/networks.devnet.yaml``, as written."""
    entries: list[dict[str, Any]] = yaml.safe_load(DEVNET_CONFIG.read_text(encoding="utf-8"))["networks"]
    return entries


def devnet_networks_load(*, node_url: str | None = None, token_contract: str | None = None) -> list[Network]:
    """Load the devnet networks; ``node_url`` replaces their node, ``token_contract`` the token's."""
    entries = devnet_entries()
    for entry in entries:
        if node_url:
            entry["node_urls"] = [node_url]
        if token_contract and entry.get("token_contract"):
            entry["token_contract"] = token_contract
    networks_load(entries=entries)
    return list(Network.objects.filter(code__in=[entry["code"] for entry in entries]).order_by("code"))


@transaction.atomic
def devnet_scan_reset(*, network: Network) -> int:
    """Forget a restarted devnet chain's scan state; returns how many waiting payments were dropped."""
    if not network.testnet:
        raise ValidationFailed(f"{network.code} is not a test network.", code="not_devnet")
    dropped = 0
    for deposit in Deposit.objects.filter(network=network, status=DepositStatus.PENDING).order_by("pk"):
        deposit_reorg(deposit=deposit, reason=RESTART_REASON)
        dropped += 1
    ScannedBlock.objects.filter(network=network).delete()
    ScanCursor.objects.filter(network=network).delete()
    return dropped


def devnet_wallet_available(network: Network) -> bool:
    """Whether the devnet wallet may pay on ``network`` (before asking its node)."""
    return (
        bool(settings.NEXORA_DEVNET_WALLET)
        and not settings.PRODUCTION
        and network.testnet
        and network.family == Family.EVM
        and bool(network.node_urls)
    )


@dataclass(frozen=True)
class DevnetPayment:
    topup: TopUp
    tx_hash: str
    units: int
    sender: str

    @property
    def amount(self) -> str:
        return self.topup.network.display(self.units)


def _check_available(network: Network) -> None:
    if not settings.NEXORA_DEVNET_WALLET or settings.PRODUCTION:
        raise PermissionDenied("The devnet wallet is switched off here.", code="devnet_wallet_disabled")
    if not devnet_wallet_available(network):
        raise ValidationFailed(
            f"{network.name} is not a devnet network: only a real wallet can pay this top-up.",
            code="not_devnet",
        )


def _payment_units(topup: TopUp, amount: object) -> int:
    if amount is None or (isinstance(amount, str) and not amount.strip()):
        return int(topup.crypto_amount)
    units = amount_to_units(amount, topup.network.decimals, field_name="amount")
    if units == 0:
        message = "The amount must be greater than zero."
        code = "amount_not_positive"
        raise ValidationFailed(message, code=code, fields={"amount": [{"code": code, "message": message}]})
    return units


def _node(network: Network) -> DevnetClient:
    """A client for the network's node, once it has answered the network's own chain id."""
    client = DevnetClient(network.node_urls[0], rpc_timeout=DEVNET_RPC_TIMEOUT_S)
    try:
        chain_id = client.chain_id()
    except (httpx.HTTPError, AnvilError, ValueError):
        client.close()
        raise ServiceUnavailable(
            f"The devnet node at {network.node_urls[0]} does not answer. Is the demo (make run) running?",
            code="devnet_unreachable",
        ) from None
    if chain_id != network.chain_id:
        client.close()
        raise ValidationFailed(
            f"The node at {network.node_urls[0]} is chain {chain_id}, not {network.chain_id}.",
            code="not_devnet",
        )
    return client


def _balance(client: DevnetClient, network: Network, owner: str) -> int:
    if network.token_contract:
        return client.token_balance(network.token_contract, owner)
    return client.eth_balance(owner)


def _send(client: DevnetClient, topup: TopUp, units: int) -> tuple[str, str]:
    """Send ``units`` to the top-up's address from the first dev account; (sender, tx hash)."""
    network, to = topup.network, topup.address.address
    sender = client.accounts[0]
    if _balance(client, network, sender) < units:
        raise Conflict(
            f"The devnet wallet {sender} holds less than {network.display(units)} {network.asset}.",
            code="devnet_insufficient_funds",
        )
    if network.token_contract:
        data = client.contract(TOKEN_ABI, network.token_contract).encode_abi("transfer", args=[to, units])
        return sender, client.send_transaction({"from": sender, "to": network.token_contract, "data": data})
    return sender, client.send_transaction({"from": sender, "to": to, "value": units})


def topup_devnet_pay(*, topup: TopUp, amount: object = None) -> DevnetPayment:
    """Pay ``topup`` from the devnet wallet: its quoted amount, or ``amount`` in the asset."""
    network = topup.network
    _check_available(network)
    units = _payment_units(topup, amount)
    client = _node(network)
    try:
        sender, tx_hash = _send(client, topup, units)
    except NexoraError:
        raise
    except RpcError as exc:
        raise Conflict(
            f"The devnet node refused the payment: {exc.message}", code="devnet_send_failed"
        ) from None
    except (httpx.HTTPError, AnvilError, ValueError):
        raise ServiceUnavailable("The devnet node stopped answering.", code="devnet_unreachable") from None
    finally:
        client.close()
    logger.info("devnet wallet paid %s %s to top-up %s: %s", network.display(units), network.asset,
                topup.public_id, tx_hash)  # fmt: skip
    return DevnetPayment(topup=topup, tx_hash=tx_hash, units=units, sender=sender)
