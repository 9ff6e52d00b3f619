"""Watch-only HD address derivation (BIP-32 public derivation) for EVM, TRON and Bitcoin.

The operator configures one ACCOUNT-level extended public key per network family:
``m/44'/60'/0'`` (EVM), ``m/44'/195'/0'`` (TRON) or ``m/84'/0'/0'`` (Bitcoin, native segwit).
Deposit address ``n`` is the receive-branch child ``<account>/0/n``. The server never sees a
spending key: ``xpub_validate`` refuses anything that is, or looks like, a private key (extended
private keys, WIF, raw hex keys, recovery phrases) before a single byte of it is parsed further,
and no message or log line ever contains the submitted text.

Speed: parsing a key and deriving the receive branch ``/0`` happen once per (family, key) and are
cached (``functools.lru_cache``); each address then costs one public child derivation
(HMAC-SHA512 plus one libsecp256k1 tweak-add through ``coincurve``) and one hash. ``bip_utils``'
object-based derivation tops out near 4,000 addresses/s here, so the hot path talks to
``coincurve`` directly; the tests cross-check it against ``bip_utils``' private-path derivation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

import coincurve
from bip_utils import Base58ChecksumError, Base58Decoder, Hash160
from eth_hash.auto import keccak

from nexora.common.errors import ValidationFailed
from payments.addresses import (
    BTC_MAINNET_HRP,
    BTC_TESTNET_HRPS,
    btc_p2wpkh,
    evm_checksum,
    family_check,
)
from payments.chains.tron_address import tron_from_bytes

ACCOUNT_DEPTH = 3
HARDENED = 0x8000_0000
RECEIVE_BRANCH = 0

# SLIP-132 version bytes of extended PUBLIC keys -> (name, testnet).
_PUBLIC_VERSIONS: dict[bytes, tuple[str, bool]] = {
    bytes.fromhex("0488b21e"): ("xpub", False),
    bytes.fromhex("049d7cb2"): ("ypub", False),
    bytes.fromhex("04b24746"): ("zpub", False),
    bytes.fromhex("043587cf"): ("tpub", True),
    bytes.fromhex("044a5262"): ("upub", True),
    bytes.fromhex("045f1cf6"): ("vpub", True),
}
# Extended PRIVATE key versions (single-sig and multisig): refused on sight.
_PRIVATE_VERSIONS = frozenset(
    bytes.fromhex(v)
    for v in (
        *("0488ade4", "049d7878", "04b2430c", "04358394", "044a4e28", "045f18bc"),
        *("0295b005", "02aa7a99", "024285b5", "02575048"),
    )
)
_PRIVATE_PREFIX_RE = re.compile(r"^[xyztuvXYZTUV]prv")
_HEX_KEY_RE = re.compile(r"^(?:0x)?[0-9a-fA-F]{64}$")
_WIF_VERSIONS = frozenset({0x80, 0xEF})
# Which key kinds make sense for each family: segwit-only prefixes are Bitcoin-specific.
_ALLOWED_KINDS = {
    "evm": frozenset({"xpub", "tpub"}),
    "tron": frozenset({"xpub", "tpub"}),
    "bitcoin": frozenset({"xpub", "zpub", "tpub", "vpub"}),
}

_PRIVATE_MESSAGE = (
    "This is a private key. Nexora only accepts a watch-only extended PUBLIC key "
    "(xpub, zpub, tpub or vpub) and must never store a key that can spend funds. "
    "Export the account's extended public key from your wallet instead, and treat the "
    "key you pasted as exposed."
)


def _hashlib_has_ripemd160() -> bool:
    try:
        hashlib.new("ripemd160")
    except ValueError:  # OpenSSL 3 without its legacy provider
        return False
    return True


_HASHLIB_RIPEMD160 = _hashlib_has_ripemd160()


def _hash160(data: bytes) -> bytes:
    """RIPEMD160(SHA256(data)); OpenSSL's when present (4x faster than the pure fallback)."""
    if _HASHLIB_RIPEMD160:
        return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()
    return bytes(Hash160.QuickDigest(data))


@dataclass(frozen=True, slots=True)
class _Branch:
    """The receive branch ``<account>/0``: everything one address derivation needs."""

    testnet: bool
    public_key: coincurve.PublicKey
    compressed: bytes
    chain_code: bytes


def _refuse_private() -> ValidationFailed:
    return ValidationFailed(_PRIVATE_MESSAGE, code="private_key_refused")


def _invalid(reason: str) -> ValidationFailed:
    return ValidationFailed(f"The extended public key is not usable: {reason}", code="invalid_xpub")


def _looks_like_secret(text: str) -> bool:
    """Recovery phrases, raw hex private keys and WIF keys are refused like ``xprv``."""
    if _PRIVATE_PREFIX_RE.match(text) or _HEX_KEY_RE.match(text):
        return True
    words = text.split()
    if len(words) >= 12 and all(w.isalpha() for w in words):
        return True
    try:
        payload = Base58Decoder.CheckDecode(text)
    except (ValueError, TypeError, Base58ChecksumError):
        return False
    return len(payload) in (33, 34) and payload[0] in _WIF_VERSIONS


def _decode(text: str) -> bytes:
    if _looks_like_secret(text):
        raise _refuse_private()
    try:
        payload: bytes = Base58Decoder.CheckDecode(text)
    except (ValueError, TypeError, Base58ChecksumError):
        raise _invalid("it is malformed or its checksum is wrong.") from None
    if len(payload) != 78:
        raise _invalid("it has the wrong length.")
    if payload[:4] in _PRIVATE_VERSIONS or payload[45] == 0:
        raise _refuse_private()
    return payload


def _account_key(family: str, text: str) -> tuple[bool, coincurve.PublicKey, bytes]:
    """Parse and check an account-level key; return (testnet, public key, chain code)."""
    payload = _decode(text)
    kind, testnet = _PUBLIC_VERSIONS.get(payload[:4], ("unknown", False))
    if kind not in _ALLOWED_KINDS[family]:
        allowed = ", ".join(sorted(_ALLOWED_KINDS[family]))
        raise _invalid(f"for this network family use one of: {allowed}.")
    child_number = int.from_bytes(payload[9:13], "big")
    if payload[4] != ACCOUNT_DEPTH or child_number < HARDENED:
        raise _invalid("export the ACCOUNT-level key (for example m/84'/0'/0'), not another level.")
    try:
        public_key = coincurve.PublicKey(payload[45:78])
    except ValueError:
        raise _invalid("its public key is not a valid curve point.") from None
    return testnet, public_key, payload[13:45]


def _child(parent: _Branch, index: int) -> coincurve.PublicKey:
    """Public key of the non-hardened child ``index`` (a leaf: its chain code is not needed)."""
    return _ckd_pub(parent.public_key, parent.compressed, parent.chain_code, index)[0]


def _ckd_pub(
    key: coincurve.PublicKey, compressed: bytes, chain_code: bytes, index: int
) -> tuple[coincurve.PublicKey, bytes]:
    digest = hmac.digest(chain_code, compressed + index.to_bytes(4, "big"), hashlib.sha512)
    try:
        child = key.add(digest[:32])
    except ValueError:  # IL >= n or the point at infinity: BIP-32 says skip this index
        raise ValidationFailed(
            "This derivation index is unusable; use the next one.", code="unusable_index"
        ) from None
    return child, digest[32:]


@lru_cache(maxsize=256)
def _branch(family: str, xpub: str) -> _Branch:
    testnet, account, chain_code = _account_key(family, xpub)
    compressed = account.format(compressed=True)
    branch, branch_chain = _ckd_pub(account, compressed, chain_code, RECEIVE_BRANCH)
    return _Branch(testnet, branch, branch.format(compressed=True), branch_chain)


def xpub_validate(family: str, key: str, *, testnet: bool | None = None) -> None:
    """Accept only a watch-only account-level extended public key usable for ``family``.

    ``testnet`` (when given) also requires the key's network to match; it matters for Bitcoin.
    """
    family_check(family)
    if not isinstance(key, str):
        raise _invalid("it must be text.")
    branch = _branch(family, key.strip())
    if family == "bitcoin" and testnet is not None and testnet != branch.testnet:
        raise _invalid("it belongs to another Bitcoin network than this one.")


def _btc_hrp(testnet: bool, hrp: str | None) -> str:
    if hrp is None:
        return "tb" if testnet else BTC_MAINNET_HRP
    if hrp not in BTC_TESTNET_HRPS and hrp != BTC_MAINNET_HRP:
        raise ValidationFailed("Unknown Bitcoin address prefix.", code="invalid_network")
    if (hrp in BTC_TESTNET_HRPS) != testnet:
        raise ValidationFailed("The address prefix contradicts testnet.", code="invalid_network")
    return hrp


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < HARDENED:
        raise ValidationFailed("The address index must be 0 to 2^31-1.", code="invalid_index")


def address_derive(
    *, family: str, xpub: str, index: int, testnet: bool = False, hrp: str | None = None
) -> str:
    """Receive address ``<account>/0/<index>`` of an account-level extended public key.

    ``testnet`` selects Bitcoin's ``tb1`` addresses (and requires a tpub/vpub); ``hrp="bcrt"``
    together with ``testnet=True`` gives regtest addresses. EVM and TRON ignore both.
    """
    family_check(family)
    _check_index(index)
    if not isinstance(xpub, str):
        raise _invalid("it must be text.")
    branch = _branch(family, xpub.strip())
    if family == "bitcoin":
        prefix = _btc_hrp(testnet, hrp)
        if branch.testnet != testnet:
            raise _invalid("it belongs to another Bitcoin network than the one requested.")
        return btc_p2wpkh(_hash160(_child(branch, index).format()), prefix)
    account_hash = keccak(_child(branch, index).format(compressed=False)[1:])[-20:]
    if family == "evm":
        return evm_checksum(account_hash)
    return tron_from_bytes(account_hash)
