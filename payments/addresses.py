"""Chain identifiers a client or operator types in: addresses and transaction hashes.

Each function takes the raw text, validates it completely (checksums included) and returns the
one canonical spelling the database stores, so lookups and uniqueness never depend on how the
value was typed. Anything else raises ``ValidationFailed`` with a stable code (``invalid_address``,
``invalid_tx_hash``) and a message that never echoes the input.

Canonical forms:

* EVM: EIP-55 checksummed ``0x`` address; a mixed-case input must already carry a valid checksum
  (mixed case is how wallets signal it), all-lower or all-upper input is accepted.
* TRON: base58check ``T...`` address (hex conversions live in ``payments.chains.tron_address``).
* Bitcoin: segwit addresses (bech32 for v0, bech32m for v1+) in lower case; legacy base58check
  P2PKH / P2SH as typed. ``testnet`` restricts the network when the caller knows it.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable

from bip_utils import (
    Base58ChecksumError,
    Base58Decoder,
    Bech32ChecksumError,
    SegwitBech32Decoder,
)
from eth_hash.auto import keccak

from nexora.common.errors import ValidationFailed
from payments.chains.tron_address import tron_normalize

FAMILIES = frozenset({"evm", "tron", "bitcoin"})
BTC_MAINNET_HRP = "bc"
BTC_TESTNET_HRPS = frozenset({"tb", "bcrt"})
_BTC_BASE58_VERSIONS = {0x00: False, 0x05: False, 0x6F: True, 0xC4: True}  # version -> testnet
_BECH32_MAX_LEN = 90
_EVM_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HASH_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def family_check(family: str) -> None:
    """Refuse a chain family this module does not know."""
    if family not in FAMILIES:
        raise ValidationFailed("Unsupported network family.", code="unsupported_family")


def _invalid_address(family: str) -> ValidationFailed:
    names = {"evm": "an Ethereum-style", "tron": "a TRON", "bitcoin": "a Bitcoin"}
    return ValidationFailed(f"This is not {names[family]} address.", code="invalid_address")


def evm_checksum(raw: bytes) -> str:
    """EIP-55 spelling of a 20-byte EVM address.

    Written out (the spec is four lines) because it is twice as fast as
    ``eth_utils.to_checksum_address`` on the derivation hot path; the tests compare the two.
    """
    lower = raw.hex()
    nibbles = keccak(lower.encode("ascii")).hex()[:40]
    return "0x" + "".join(c.upper() if n in "89abcdef" else c for c, n in zip(lower, nibbles, strict=True))


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
# BIP-173's generator, folded into one XOR mask per value of the 5 bits shifted out.
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_MASKS = tuple(
    functools.reduce(operator.xor, (g for i, g in enumerate(_BECH32_GEN) if top >> i & 1), 0)
    for top in range(32)
)


def _polymod(values: Iterable[int], chk: int = 1) -> int:
    for value in values:
        chk = ((chk & 0x1FFFFFF) << 5) ^ value ^ _BECH32_MASKS[chk >> 25]
    return chk


@functools.lru_cache(maxsize=8)
def _hrp_state(hrp: str) -> int:
    return _polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp])


def btc_p2wpkh(pubkey_hash: bytes, hrp: str) -> str:
    """Bech32 P2WPKH (segwit v0) address of a 20-byte HASH160.

    BIP-173's encoder, written out with a folded generator table because ``bip_utils``' generic
    one is the slowest step of Bitcoin address derivation; the tests compare the two.
    """
    if len(pubkey_hash) != 20:
        raise ValueError("P2WPKH needs a 20-byte hash")
    bits = int.from_bytes(pubkey_hash, "big")
    data = [0] + [(bits >> shift) & 31 for shift in range(155, -1, -5)]
    check = _polymod([*data, 0, 0, 0, 0, 0, 0], _hrp_state(hrp)) ^ 1  # 1: bech32, not bech32m
    data += [(check >> shift) & 31 for shift in range(25, -1, -5)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data)


def address_normalize(family: str, address: str, *, testnet: bool | None = None) -> str:
    """Validate ``address`` for ``family`` and return its canonical spelling."""
    family_check(family)
    text = address.strip() if isinstance(address, str) else ""
    if family == "evm":
        return _evm_normalize(text)
    if family == "tron":
        return tron_normalize(text)
    return _btc_normalize(text, testnet)


def _evm_normalize(text: str) -> str:
    if not _EVM_RE.match(text):
        raise _invalid_address("evm")
    body = text[2:]
    checksummed = evm_checksum(bytes.fromhex(body))
    mixed_case = body != body.lower() and body != body.upper()
    if mixed_case and checksummed != text:
        raise ValidationFailed(
            "The address checksum does not match; check it for a typo.", code="invalid_address"
        )
    return checksummed


def _btc_normalize(text: str, testnet: bool | None) -> str:
    hrp, _, _ = text.lower().rpartition("1")
    if hrp == BTC_MAINNET_HRP or hrp in BTC_TESTNET_HRPS:
        is_testnet, canonical = hrp != BTC_MAINNET_HRP, _btc_segwit(text, hrp)
    else:
        is_testnet, canonical = _btc_base58(text), text
    if testnet is not None and testnet != is_testnet:
        raise ValidationFailed("This Bitcoin address belongs to another network.", code="invalid_address")
    return canonical


def _btc_segwit(text: str, hrp: str) -> str:
    if len(text) > _BECH32_MAX_LEN:
        raise _invalid_address("bitcoin")
    try:
        SegwitBech32Decoder.Decode(hrp, text)
    except (ValueError, TypeError, Bech32ChecksumError):
        raise _invalid_address("bitcoin") from None
    return text.lower()


def _btc_base58(text: str) -> bool:
    """Validate a legacy address; return whether it is a testnet one."""
    try:
        payload = Base58Decoder.CheckDecode(text)
    except (ValueError, TypeError, Base58ChecksumError):
        raise _invalid_address("bitcoin") from None
    if len(payload) != 21 or payload[0] not in _BTC_BASE58_VERSIONS:
        raise _invalid_address("bitcoin")
    return _BTC_BASE58_VERSIONS[payload[0]]


def tx_hash_validate(family: str, tx_hash: str) -> str:
    """Validate a transaction hash and return it in lower case.

    EVM hashes carry ``0x``; Bitcoin txids never do; TRON ids are bare hex, but a ``0x`` copied
    from an EVM-style explorer is tolerated and removed.
    """
    family_check(family)
    text = tx_hash.strip() if isinstance(tx_hash, str) else ""
    if family == "evm":
        body = text[2:] if text.startswith("0x") else None
    elif family == "tron":
        body = text[2:] if text.startswith("0x") else text
    else:
        body = text
    if body is None or not _HASH_RE.match(body):
        raise ValidationFailed("This is not a valid transaction hash.", code="invalid_tx_hash")
    prefix = "0x" if family == "evm" else ""
    return prefix + body.lower()
