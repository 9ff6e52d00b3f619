"""Watch-only derivation, key refusal and identifier validation.

Every expected address comes from a published vector (BIP-84, the well-known "abandon ... about"
Ethereum and TRON addresses) or from ``bip_utils``' PRIVATE-path derivation, which shares no code
with the public-path hot loop in ``payments.derivation``.
"""

from __future__ import annotations

import logging

import pytest
from bip_utils import (
    Base58Decoder,
    Base58Encoder,
    Bip39SeedGenerator,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip84,
    Bip84Coins,
    P2WPKHAddrEncoder,
    SegwitBech32Encoder,
    WifEncoder,
)
from bip_utils.bip.bip44_base import Bip44Base
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from nexora.common.errors import ValidationFailed
from payments.addresses import address_normalize, btc_p2wpkh, evm_checksum, tx_hash_validate
from payments.chains.tron_address import tron_from_hex, tron_to_hex
from payments.derivation import address_derive, xpub_validate

MNEMONIC = "abandon " * 11 + "about"
SEED = Bip39SeedGenerator(MNEMONIC).Generate()
BIP84_ZPUB = (  # BIP-84's published account key; the test below re-derives it from the mnemonic
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
)
TRON_ADDRESS_0 = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
FAMILY_COINS = {
    "evm": (Bip44, Bip44Coins.ETHEREUM),
    "tron": (Bip44, Bip44Coins.TRON),
    "bitcoin": (Bip84, Bip84Coins.BITCOIN),
}


def _account(family: str, seed: bytes = SEED) -> Bip44Base:
    cls, coin = FAMILY_COINS[family]
    return cls.FromSeed(seed, coin).Purpose().Coin().Account(0)


def _xpub(family: str, seed: bytes = SEED) -> str:
    return str(_account(family, seed).PublicKey().ToExtended())


def _private_path_address(family: str, index: int, seed: bytes = SEED) -> str:
    node = _account(family, seed).Change(Bip44Changes.CHAIN_EXT).AddressIndex(index)
    return str(node.PublicKey().ToAddress())


def _reversion(key: str, version_hex: str) -> str:
    """The same key material under other SLIP-132 version bytes (zpub -> xpub, ...)."""
    return str(Base58Encoder.CheckEncode(bytes.fromhex(version_hex) + Base58Decoder.CheckDecode(key)[4:]))


def _raises(code: str, **kwargs: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        address_derive(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == code
    return info.value


# --- published vectors -------------------------------------------------------------------------


def test_bip84_account_key_and_addresses() -> None:
    zpub = _xpub("bitcoin")
    assert zpub == BIP84_ZPUB
    assert (
        address_derive(family="bitcoin", xpub=zpub, index=0) == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    )
    assert (
        address_derive(family="bitcoin", xpub=zpub, index=1) == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    )


def test_bitcoin_accepts_the_same_account_as_xpub() -> None:
    xpub = _reversion(_xpub("bitcoin"), "0488b21e")
    assert xpub.startswith("xpub")
    assert (
        address_derive(family="bitcoin", xpub=xpub, index=0) == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    )


def test_ethereum_well_known_first_address() -> None:
    xpub = _xpub("evm")
    assert address_derive(family="evm", xpub=xpub, index=0) == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def test_tron_first_address_agrees_with_private_path() -> None:
    watch_only = address_derive(family="tron", xpub=_xpub("tron"), index=0)
    assert watch_only == _private_path_address("tron", 0)
    assert watch_only == TRON_ADDRESS_0


# --- bitcoin networks --------------------------------------------------------------------------


def _testnet_vpub() -> str:
    return str(
        Bip84.FromSeed(SEED, Bip84Coins.BITCOIN_TESTNET).Purpose().Coin().Account(0).PublicKey().ToExtended()
    )


def _testnet_private_path(index: int, hrp: str) -> str:
    account = Bip84.FromSeed(SEED, Bip84Coins.BITCOIN_TESTNET).Purpose().Coin().Account(0)
    key = account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index).PublicKey().RawCompressed().ToBytes()
    return str(P2WPKHAddrEncoder.EncodeKey(key, hrp=hrp))


@pytest.mark.parametrize("version", ["045f1cf6", "043587cf"], ids=["vpub", "tpub"])
def test_bitcoin_testnet_and_regtest(version: str) -> None:
    key = _reversion(_testnet_vpub(), version)
    tb = address_derive(family="bitcoin", xpub=key, index=7, testnet=True)
    bcrt = address_derive(family="bitcoin", xpub=key, index=7, testnet=True, hrp="bcrt")
    assert tb == _testnet_private_path(7, "tb") and tb.startswith("tb1q")
    assert bcrt == _testnet_private_path(7, "bcrt") and bcrt.startswith("bcrt1q")


def test_bitcoin_network_mismatches_are_refused() -> None:
    _raises("invalid_xpub", family="bitcoin", xpub=_testnet_vpub(), index=0)
    _raises("invalid_xpub", family="bitcoin", xpub=BIP84_ZPUB, index=0, testnet=True)
    _raises("invalid_network", family="bitcoin", xpub=BIP84_ZPUB, index=0, hrp="bcrt")
    _raises("invalid_network", family="bitcoin", xpub=BIP84_ZPUB, index=0, hrp="ltc")
    with pytest.raises(ValidationFailed) as info:
        xpub_validate("bitcoin", _testnet_vpub(), testnet=False)
    assert info.value.code == "invalid_xpub"
    xpub_validate("bitcoin", _testnet_vpub(), testnet=True)
    xpub_validate("bitcoin", _testnet_vpub())


# --- refusing private keys ---------------------------------------------------------------------


def _private_keys() -> dict[str, str]:
    btc_test = Bip84.FromSeed(SEED, Bip84Coins.BITCOIN_TESTNET).Purpose().Coin().Account(0)
    zprv = str(_account("bitcoin").PrivateKey().ToExtended())
    raw = _account("evm").PrivateKey().Raw().ToBytes()
    return {
        "xprv": str(_account("evm").PrivateKey().ToExtended()),
        "zprv": zprv,
        "vprv": str(btc_test.PrivateKey().ToExtended()),
        "tprv": _reversion(str(btc_test.PrivateKey().ToExtended()), "04358394"),
        "yprv": _reversion(zprv, "049d7878"),
        "xprv-bad-checksum": zprv[:-1] + ("A" if zprv[-1] != "A" else "B"),
        "private-material-under-xpub-version": _reversion(zprv, "0488b21e"),
        "wif": str(WifEncoder.Encode(raw)),
        "raw-hex": raw.hex(),
        "mnemonic": MNEMONIC,
    }


@pytest.mark.parametrize("name", list(_private_keys()))
@pytest.mark.parametrize("family", ["evm", "tron", "bitcoin"])
def test_private_keys_are_refused_without_echo(
    name: str, family: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = _private_keys()[name]
    caplog.set_level(logging.DEBUG)
    for call in (
        lambda: xpub_validate(family, key),
        lambda: address_derive(family=family, xpub=key, index=0),
    ):
        with pytest.raises(ValidationFailed) as info:
            call()
        error = info.value
        assert error.code == "private_key_refused"
        assert "PUBLIC key" in error.message and "never store" in error.message
        assert key not in str(error) and key[:20] not in repr(error.as_dict())
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert key[:20] not in caplog.text


# --- malformed keys ----------------------------------------------------------------------------


def _malformed() -> dict[str, tuple[str, str]]:
    zpub = _xpub("bitcoin")
    eth = Bip44.FromSeed(SEED, Bip44Coins.ETHEREUM)
    return {
        "empty": ("evm", ""),
        "garbage": ("evm", "not a key"),
        "bad-checksum": ("bitcoin", zpub[:-1] + ("A" if zpub[-1] != "A" else "B")),
        "truncated": ("bitcoin", zpub[:-5]),
        "root-key": ("evm", str(eth.PublicKey().ToExtended())),
        "change-level-key": (
            "evm",
            str(eth.Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT).PublicKey().ToExtended()),
        ),
        "zpub-for-evm": ("evm", zpub),
        "ypub-for-bitcoin": ("bitcoin", _reversion(zpub, "049d7cb2")),
        "unknown-version": ("bitcoin", _reversion(zpub, "01020304")),
        "not-on-curve": ("evm", _corrupt_point(_xpub("evm"))),
    }


def _corrupt_point(key: str) -> str:
    payload = bytearray(Base58Decoder.CheckDecode(key))
    payload[45:78] = b"\x02" + b"\xff" * 32  # x >= p: no such point
    return str(Base58Encoder.CheckEncode(bytes(payload)))


@pytest.mark.parametrize("name", list(_malformed()))
def test_malformed_keys_are_refused(name: str) -> None:
    family, key = _malformed()[name]
    with pytest.raises(ValidationFailed) as info:
        xpub_validate(family, key)
    assert info.value.code == "invalid_xpub"
    assert not key or key not in info.value.message
    _raises("invalid_xpub", family=family, xpub=key, index=0)


def test_unknown_family_and_bad_indexes() -> None:
    xpub = _xpub("evm")
    _raises("unsupported_family", family="solana", xpub=xpub, index=0)
    for index in (-1, 2**31, True, "1"):
        _raises("invalid_index", family="evm", xpub=xpub, index=index)
    assert address_derive(family="evm", xpub=xpub, index=2**31 - 1).startswith("0x")


def test_surrounding_whitespace_is_ignored() -> None:
    xpub = _xpub("evm")
    assert (
        address_derive(family="evm", xpub=f"  {xpub}\n", index=0)
        == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    )


# --- distinctness and agreement with the private path -------------------------------------------


@pytest.mark.parametrize("family", ["evm", "tron", "bitcoin"])
def test_indexes_give_distinct_addresses(family: str) -> None:
    xpub = _xpub(family)
    addresses = {address_derive(family=family, xpub=xpub, index=i) for i in range(500)}
    assert len(addresses) == 500
    assert all(address_normalize(family, a) == a for a in list(addresses)[:50])


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(["evm", "tron", "bitcoin"]),
    index=st.integers(min_value=0, max_value=2**31 - 1),
    seed=st.binary(min_size=16, max_size=64),
)
def test_watch_only_equals_private_path(family: str, index: int, seed: bytes) -> None:
    watch_only = address_derive(family=family, xpub=_xpub(family, seed), index=index)
    assert watch_only == _private_path_address(family, index, seed)


# --- address and hash validation ---------------------------------------------------------------


@settings(max_examples=200)
@given(raw=st.binary(min_size=20, max_size=20))
def test_evm_checksum_matches_eth_utils(raw: bytes) -> None:
    assert evm_checksum(raw) == to_checksum_address(raw)


@settings(max_examples=300)
@given(raw=st.binary(min_size=20, max_size=20), hrp=st.sampled_from(["bc", "tb", "bcrt"]))
def test_bech32_encoder_matches_bip_utils(raw: bytes, hrp: str) -> None:
    assert btc_p2wpkh(raw, hrp) == SegwitBech32Encoder.Encode(hrp, 0, raw)


def test_evm_address_normalize() -> None:
    canonical = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    assert address_normalize("evm", canonical.lower()) == canonical
    assert address_normalize("evm", " 0x" + canonical[2:].upper() + " ") == canonical
    assert address_normalize("evm", canonical) == canonical
    for bad in (canonical.replace("Ef", "eF", 1), canonical[:-1], canonical[2:], "0x" + "g" * 40, ""):
        with pytest.raises(ValidationFailed) as info:
            address_normalize("evm", bad)
        assert info.value.code == "invalid_address"


def test_tron_address_normalize_and_hex() -> None:
    # The example pair from TRON's developer documentation.
    assert tron_to_hex("TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7") == "4174472e7d35395a6b5add427eecb7f4b62ad2b071"
    assert tron_from_hex("4174472E7D35395A6B5ADD427EECB7F4B62AD2B071") == "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
    assert tron_from_hex("0x74472e7d35395a6b5add427eecb7f4b62ad2b071") == "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
    assert address_normalize("tron", f" {TRON_ADDRESS_0} ") == TRON_ADDRESS_0
    bad_checksum = TRON_ADDRESS_0[:-1] + ("J" if TRON_ADDRESS_0[-1] != "J" else "K")
    evm_prefixed = str(Base58Encoder.CheckEncode(b"\x00" + bytes(20)))
    for bad in (bad_checksum, TRON_ADDRESS_0.lower(), evm_prefixed, "T" + "1" * 33, ""):
        with pytest.raises(ValidationFailed) as info:
            address_normalize("tron", bad)
        assert info.value.code == "invalid_address"
    for bad in ("42" + "00" * 20, "41" + "00" * 21, "0x41" + "00" * 19 + "0", "zz"):
        with pytest.raises(ValidationFailed):
            tron_from_hex(bad)


@pytest.mark.parametrize(
    ("address", "canonical", "testnet"),
    [
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", False),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            False,
        ),
        (
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            True,
        ),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", False),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", False),
    ],
)
def test_bitcoin_address_normalize(address: str, canonical: str, testnet: bool) -> None:
    assert address_normalize("bitcoin", address) == canonical
    assert address_normalize("bitcoin", address, testnet=testnet) == canonical
    with pytest.raises(ValidationFailed) as info:
        address_normalize("bitcoin", address, testnet=not testnet)
    assert info.value.code == "invalid_address"


@pytest.mark.parametrize(
    "address",
    [
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # BIP-173: bad checksum
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",  # BIP-173: mixed case
        "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",  # BIP-350: v2 with a bech32 (not bech32m) checksum
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",  # base58 checksum
        "0x9858EfFD232B4033E47d90003D41EC34EcaEda94",
        "",
    ],
)
def test_bitcoin_address_invalid(address: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        address_normalize("bitcoin", address)
    assert info.value.code == "invalid_address"
    assert not address or address not in info.value.message


def test_tx_hash_validate() -> None:
    digest = "AB" * 32
    assert tx_hash_validate("evm", "0x" + digest) == "0x" + digest.lower()
    assert tx_hash_validate("bitcoin", f" {digest} ") == digest.lower()
    assert tx_hash_validate("tron", digest) == digest.lower()
    assert tx_hash_validate("tron", "0x" + digest) == digest.lower()
    bad_cases = [
        ("evm", digest),
        ("evm", "0x" + digest[:-1]),
        ("evm", "0x" + "g" * 64),
        ("bitcoin", "0x" + digest),
        ("bitcoin", digest + "00"),
        ("tron", "0x0x" + digest),
        ("tron", ""),
    ]
    for family, bad in bad_cases:
        with pytest.raises(ValidationFailed) as info:
            tx_hash_validate(family, bad)
        assert info.value.code == "invalid_tx_hash"
