"""TRON address encodings, in one place.

A TRON account is a 20-byte EVM-style hash behind a one-byte network prefix ``0x41``. Users and
TronGrid show it as base58check (``T...``, 34 characters); the node's HTTP API and ABI-encoded
event data use hex (``41`` + 40 hex digits, or the bare 20 bytes in a log topic). Every conversion
in the code base goes through this module so the prefix and checksum rules live in one place.
"""

from __future__ import annotations

import re

from bip_utils import Base58ChecksumError, Base58Decoder, Base58Encoder

from nexora.common.errors import ValidationFailed

TRON_PREFIX = b"\x41"
_HEX_RE = re.compile(r"^(?:0x)?(41)?([0-9a-fA-F]{40})$")
_INVALID = "This is not a valid TRON address."


def _invalid() -> ValidationFailed:
    return ValidationFailed(_INVALID, code="invalid_address")


def tron_from_bytes(raw: bytes) -> str:
    """Base58check ``T...`` address of a 20-byte account hash."""
    if len(raw) != 20:
        raise _invalid()
    encoded: str = Base58Encoder.CheckEncode(TRON_PREFIX + raw)
    return encoded


def tron_to_bytes(address: str) -> bytes:
    """The 20-byte account hash behind a base58check ``T...`` address."""
    text = address.strip() if isinstance(address, str) else ""
    if len(text) != 34 or not text.startswith("T"):
        raise _invalid()
    try:
        payload: bytes = Base58Decoder.CheckDecode(text)
    except (ValueError, TypeError, Base58ChecksumError):
        raise _invalid() from None
    if len(payload) != 21 or payload[:1] != TRON_PREFIX:
        raise _invalid()
    return payload[1:]


def tron_normalize(address: str) -> str:
    """Validate a base58check TRON address and return it canonically (stripped)."""
    return tron_from_bytes(tron_to_bytes(address))


def tron_to_hex(address: str) -> str:
    """``T...`` -> ``41`` + 40 lowercase hex digits (the node API's form)."""
    return (TRON_PREFIX + tron_to_bytes(address)).hex()


def tron_from_hex(value: str) -> str:
    """``41``-prefixed hex (also ``0x``-prefixed or bare 20-byte hex from logs) -> ``T...``."""
    match = _HEX_RE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _invalid()
    return tron_from_bytes(bytes.fromhex(match.group(2)))
