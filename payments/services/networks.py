"""Networks: validation, declarative loading (``networks_load``) and the quote/amount helpers.

``network_validate`` is the one check every path runs (loader, admin form via ``Network.clean``):
known family, an EVM chain id, a well-formed token contract, sane decimals, and above all a
watch-only key: ``xpub_validate`` refuses an extended private key, a WIF key, a raw hex key or a
recovery phrase with ``private_key_refused``, and no message ever repeats the key.

``networks_load`` creates or updates networks by code from a list of dicts (parsed from YAML or
JSON by the command). It never deletes a network; one missing from the file is reported and,
with ``disable_missing``, disabled. Fields that give recorded amounts their meaning (family,
chain id, token contract, decimals) cannot change on a network that already has top-ups.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction

from nexora.common.errors import ValidationFailed
from payments.addresses import address_normalize
from payments.chains.base import NetworkSpec
from payments.derivation import xpub_validate
from payments.models import Family, Network

IMMUTABLE_WITH_TOPUPS = ("family", "chain_id", "token_contract", "decimals")
_FIELDS = {
    "name", "family", "chain_id", "asset", "token_contract", "decimals", "quote_places", "confirmations",
    "node_urls", "xpub", "testnet", "quote_window_s", "monitor_window_s", "underpay_tolerance",
    "block_time_s", "explorer_tx_url", "explorer_address_url", "options", "enabled",
}  # fmt: skip
_SPECIAL = {"code", "min_amount", "xpub_env"}


def _fail(field_name: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field_name: [{"code": code, "message": message}]})


def network_validate(network: Network) -> None:
    """Raise ``ValidationFailed`` unless ``network`` is consistent and its key watch-only."""
    if network.family not in Family.values:
        raise _fail("family", "unsupported_family", "Family must be evm, tron or bitcoin.")
    if network.family == Family.EVM and not network.chain_id:
        raise _fail("chain_id", "chain_id_required", "An EVM network needs its chain id.")
    if network.token_contract:
        try:
            network.token_contract = address_normalize(network.family, network.token_contract)
        except ValidationFailed:
            raise _fail(
                "token_contract", "invalid_contract", "The token contract is not a valid address."
            ) from None
    if network.family == Family.BITCOIN and network.token_contract:
        raise _fail("token_contract", "invalid_contract", "Bitcoin has no token contracts.")
    if not 0 <= network.quote_places <= network.decimals <= 36:
        raise _fail("quote_places", "invalid_decimals", "Need 0 <= quote_places <= decimals <= 36.")
    if not isinstance(network.node_urls, list) or not all(isinstance(u, str) for u in network.node_urls):
        raise _fail("node_urls", "invalid_urls", "node_urls must be a list of URLs.")
    try:
        xpub_validate(network.family, network.xpub, testnet=network.testnet)
    except ValidationFailed as exc:
        raise _fail("xpub", exc.code, exc.message) from None


def network_in_use_check(network: Network) -> None:
    """Refuse changing what recorded amounts mean (family, chain, contract, decimals) under top-ups."""
    if network.pk is None:
        return
    stored = Network.objects.filter(pk=network.pk).values(*IMMUTABLE_WITH_TOPUPS).first() or {}
    changed = sorted(name for name in IMMUTABLE_WITH_TOPUPS if stored.get(name) != getattr(network, name))
    if changed and network.topups.exists():
        message = f"{network.code}: {changed[0]} cannot change once the network has top-ups."
        raise _fail(changed[0], "network_in_use", message)


def amount_to_units(value: object, decimals: int, *, field_name: str = "min_amount") -> int:
    """An asset amount ("0.5") as exact base units; refuses floats and sub-unit precision."""
    if isinstance(value, (bool, float)):
        raise _fail(field_name, "invalid_amount", "Write amounts as strings or integers, never floats.")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _fail(field_name, "invalid_amount", "Not a decimal number.") from None
    units = amount.scaleb(decimals)
    if not amount.is_finite() or amount < 0 or units != units.to_integral_value():
        raise _fail(field_name, "invalid_amount", f"Must be >= 0 with at most {decimals} decimals.")
    return int(units)


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


def _values(entry: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(entry) - _FIELDS - _SPECIAL
    if unknown:
        raise _fail(
            sorted(unknown)[0], "unknown_field", f"Unknown network field(s): {', '.join(sorted(unknown))}."
        )
    values = {k: v for k, v in entry.items() if k in _FIELDS}
    if "xpub_env" in entry:
        values["xpub"] = os.environ.get(str(entry["xpub_env"]), "")
        if not values["xpub"]:
            raise _fail("xpub_env", "xpub_missing", f"Environment variable {entry['xpub_env']} is not set.")
    values.setdefault("quote_places", min(int(values.get("decimals", 0)), 8))
    values["min_amount"] = amount_to_units(entry.get("min_amount", 0), int(values.get("decimals", 0)))
    if "underpay_tolerance" in values:
        values["underpay_tolerance"] = Decimal(str(values["underpay_tolerance"]))
    return values


def network_upsert(*, code: str, values: Mapping[str, Any]) -> tuple[Network, str]:
    """Create or update one network by code; returns it and "created" / "updated" / "unchanged"."""
    network = Network.objects.select_for_update().filter(code=code).first()
    created = network is None
    network = network or Network(code=code)
    before = {name: getattr(network, name) for name in values}
    for name, value in values.items():
        setattr(network, name, value)
    network_validate(network)
    changed = {n for n in values if getattr(network, n) != before[n]}
    network_in_use_check(network)
    if created or changed:
        network.full_clean(validate_unique=False)
        network.save()
    return network, "created" if created else ("updated" if changed else "unchanged")


@transaction.atomic
def networks_load(*, entries: Sequence[Mapping[str, Any]], disable_missing: bool = False) -> LoadReport:
    """Load a whole file atomically: one bad entry changes nothing."""
    report = LoadReport()
    codes = []
    for position, entry in enumerate(entries):
        code = str(entry.get("code", "")).strip()
        if not code:
            raise _fail("code", "code_required", f"Entry {position + 1} has no code.")
        try:
            _, outcome = network_upsert(code=code, values=_values(entry))
        except ValidationFailed as exc:
            raise ValidationFailed(f"{code}: {exc.message}", code=exc.code, fields=exc.fields) from None
        getattr(report, outcome).append(code)
        codes.append(code)
    for network in Network.objects.exclude(code__in=codes).order_by("code"):
        report.missing.append(network.code)
        if disable_missing and network.enabled:
            network.enabled = False
            network.save(update_fields=["enabled", "updated_at"])
            report.disabled.append(network.code)
    return report


def network_spec(network: Network) -> NetworkSpec:
    """What a chain adapter needs from a network row (adapters never touch the ORM)."""
    api_key = settings.NEXORA_TRONGRID_API_KEY if network.family == Family.TRON else ""
    return NetworkSpec(
        code=network.code,
        family=network.family,
        urls=tuple(network.node_urls),
        chain_id=network.chain_id,
        token_contract=network.token_contract,
        decimals=network.decimals,
        testnet=network.testnet,
        api_key=api_key,
        options=dict(network.options),
    )
