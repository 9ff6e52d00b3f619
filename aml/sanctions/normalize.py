"""Address identity: which family an address belongs to, and its canonical form for matching.

Design: one small function per concern, all pure.

- ``classify_address(address)`` looks only at the *format* of the string and returns its family:
  ``"evm"`` (``0x`` + 40 hex), ``"tron"`` (base58check, version byte 0x41, ``T...``),
  ``"bitcoin"`` (mainnet base58check P2PKH/P2SH, version 0x00/0x05, or bech32/bech32m ``bc1...``
  with a valid checksum) or ``"other"`` (XMR, LTC, BCH cashaddr, ``bnb1...``, typos, ...).
  Checksums are verified, so a near-miss is ``"other"`` rather than a false family. The
  classification is by format, not by chain: a BSV or BCH legacy address has the same format as
  a Bitcoin one and is classified ``"bitcoin"``. This is what splits OFAC's USDT list, which mixes
  Ethereum (``0x...``), TRON (``T...``) and Omni (Bitcoin-format) addresses.
- ``chain_family(chain)`` maps a chain/asset code to the one family its addresses must have, or
  ``None`` when the code does not fix a format (multi-chain tokens such as USDT and USDC, and any
  code we do not know; ``BNB`` is deliberately unmapped: OFAC's BNB entries are ``bnb1...``
  Beacon Chain addresses while "BNB Smart Chain" is EVM; use ``BSC`` for the latter).
- ``canonical_address(address)`` gives the form two listings of the same address compare equal
  in: EVM addresses are case-insensitive (EIP-55 case is only a checksum), so they are
  lowercased; bech32 is case-insensitive too (BIP-173), so a single-case bech32 address is
  lowercased, while a *mixed-case* one is invalid under BIP-173 and rejected rather than silently
  matched. Base58 (TRON, legacy Bitcoin) and every other format are case-sensitive and kept
  exactly as listed (only surrounding whitespace is dropped).
- ``normalize_address(chain, address)`` is what callers holding an address *for a known chain*
  use: it checks the address format against ``chain_family(chain)`` and then canonicalises.
  Sanctions importers should call ``canonical_address`` instead, because OFAC's per-asset lists
  are not always consistent (the XBT list contains one TRON address).

Bad input raises ``ValidationFailed`` with a stable code and changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from nexora.common.errors import ValidationFailed

AddressFamily = Literal["evm", "tron", "bitcoin", "other"]

_EVM_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: value for value, char in enumerate(_B58_ALPHABET)}
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {char: value for value, char in enumerate(_BECH32_CHARSET)}
_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_BITCOIN_HRP = "bc"
_TRON_VERSION = 0x41
_BITCOIN_VERSIONS = frozenset({0x00, 0x05})

_CHAIN_FAMILIES: dict[str, AddressFamily] = {
    "ETH": "evm",
    "ETC": "evm",
    "ARB": "evm",
    "BSC": "evm",
    "POLYGON": "evm",
    "MATIC": "evm",
    "TRX": "tron",
    "TRON": "tron",
    "XBT": "bitcoin",
    "BTC": "bitcoin",
}


def classify_address(address: str) -> AddressFamily:
    """Return the family of ``address`` judged by its format and checksum alone."""
    if _EVM_RE.fullmatch(address):
        return "evm"
    version = _base58check_version(address)
    if version == _TRON_VERSION:
        return "tron"
    if version in _BITCOIN_VERSIONS or _is_bitcoin_bech32(address):
        return "bitcoin"
    return "other"


def chain_family(chain: str) -> AddressFamily | None:
    """Return the family every address of ``chain`` must have, or ``None`` if it is not fixed."""
    return _CHAIN_FAMILIES.get(chain.strip().upper())


def canonical_address(address: str) -> str:
    """Return the form of ``address`` used for equality (see the module docstring)."""
    stripped = address.strip()
    if not stripped or any(char.isspace() for char in stripped):
        raise ValidationFailed(
            "An address must be one non-empty token.",
            code="invalid_address",
            fields={"address": address},
        )
    if _EVM_RE.fullmatch(stripped):
        return stripped.lower()
    if _is_bitcoin_bech32(stripped.lower()):
        return _single_case_bech32(stripped)
    return stripped


def normalize_address(chain: str, address: str) -> str:
    """Canonicalise ``address`` after checking that its format belongs to ``chain``."""
    canonical = canonical_address(address)
    expected = chain_family(chain)
    if expected is not None and classify_address(canonical) != expected:
        raise ValidationFailed(
            f"This is not a valid {chain.strip().upper()} address.",
            code="address_chain_mismatch",
            fields={"address": address, "chain": chain},
        )
    return canonical


def _single_case_bech32(address: str) -> str:
    """Lowercase a bech32 address; BIP-173 forbids mixing cases, so such input is rejected."""
    if address != address.lower() and address != address.upper():
        raise ValidationFailed(
            "A bech32 address must not mix upper and lower case.",
            code="invalid_address",
            fields={"address": address},
        )
    return address.lower()


def _base58check_version(address: str) -> int | None:
    """Version byte of a base58check string with a 20-byte payload, or None if it is not one."""
    if not 25 <= len(address) <= 35 or any(char not in _B58_INDEX for char in address):
        return None
    number = 0
    for char in address:
        number = number * 58 + _B58_INDEX[char]
    leading_zeros = len(address) - len(address.lstrip("1"))
    raw = b"\x00" * leading_zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")
    payload, checksum = raw[:-4], raw[-4:]
    if len(payload) != 21:
        return None
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        return None
    return payload[0]


def _is_bitcoin_bech32(address: str) -> bool:
    """True for a single-case mainnet segwit address (bech32 for v0, bech32m for v1+)."""
    if address != address.lower() and address != address.upper():
        return False
    hrp, separator, data_part = address.lower().rpartition("1")
    if hrp != _BITCOIN_HRP or not separator or not 14 <= len(data_part) <= 74:
        return False
    if any(char not in _BECH32_INDEX for char in data_part):
        return False
    data = [_BECH32_INDEX[char] for char in data_part]
    witness_version = data[0]
    expected_const = _BECH32_CONST if witness_version == 0 else _BECH32M_CONST
    return witness_version <= 16 and _bech32_polymod(hrp, data) == expected_const


def _bech32_polymod(hrp: str, data: list[int]) -> int:
    values = [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp] + data
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum
