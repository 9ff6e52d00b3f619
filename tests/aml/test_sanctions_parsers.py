"""Sanctions-list parsers and address normalisation, against the real OFAC snapshot.

No database and no Django: the parsers are pure Python. The 121 MB XML is parsed twice per run
(module-scoped fixtures): once from the ``.bz2`` under ``tracemalloc`` (which gives the memory
figure) and once from a decompressed copy (which must give the same entries). The data directory
defaults to the shared snapshot and can be moved with ``NEXORA_SANCTIONS_DATA``.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aml.sanctions.normalize import (
    canonical_address,
    chain_family,
    classify_address,
    normalize_address,
)
from aml.sanctions.parsers import (
    SOURCE_ASSET_LIST,
    SOURCE_OFAC_XML,
    SanctionEntry,
    iter_asset_list,
    iter_ofac_advanced_xml,
    iter_sanctions_file,
    verify_checksum,
)
from nexora.common.errors import ValidationFailed

# The shared snapshot sits beside the repository (../shared), in CI as on a developer machine.
ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("NEXORA_SANCTIONS_DATA", ROOT.parent / "shared" / "data" / "sanctions"))
XML_BZ2 = DATA_DIR / "sdn_advanced.xml.bz2"
CHECKSUM = DATA_DIR / "sdn_advanced_checksum.txt"
# Peak RSS of a whole Python process parsing the ~121 MB XML (measured 105-223 MiB); building the
# whole tree would need well over 1 GiB.
MEMORY_LIMIT = 512 * 2**20

# Distinct addresses per asset in the 2025-12-04 snapshot (= lines of each per-asset file).
EXPECTED_COUNTS = dict(
    ARB=1,
    BCH=7,
    BNB=1,
    BSC=1,
    BSV=1,
    BTG=1,
    DASH=3,
    ETC=1,
    ETH=77,
    LTC=10,
    SOL=1,
    TRX=29,
    USDC=2,
    USDT=93,
    XBT=517,
    XMR=8,
    XRP=1,
    XVG=1,
    ZEC=3,
)

LAZARUS_ETH = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"
GARANTEX_TRX = "TNDjh6WGLYyWmkh8vfu42bXVHUqFNQ3rDq"
BTC_P2PKH = "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"
BTC_BECH32 = "bc1q05aktddf9ce4p7hh3stgsf253m4vweu7nkhtmw"

MISSING_DATA = f"sanctions snapshot not found in {DATA_DIR} (set NEXORA_SANCTIONS_DATA)"
pytestmark = pytest.mark.skipif(not XML_BZ2.exists(), reason=MISSING_DATA)


@dataclass(frozen=True)
class ParseRun:
    entries: list[SanctionEntry]
    seconds: float
    peak_bytes: int


_CHILD = """
import json, resource, sys, time
from aml.sanctions.parsers import iter_sanctions_file
started = time.perf_counter()
rows = [
    [e.asset, e.address, e.entity_name, list(e.programs),
     e.listed_on.isoformat() if e.listed_on else None, e.source, e.uid]
    for e in iter_sanctions_file(sys.argv[1])
]
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak": peak}))
"""


@pytest.fixture(scope="module")
def traced_run() -> ParseRun:
    """The full ``.bz2`` parse, through the dispatcher, in a child process that reports its own peak
    resident memory (the whole process, not just the Python heap) and runs at full speed."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(XML_BZ2)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(result.stdout)
    entries = [
        SanctionEntry(a, addr, name, tuple(progs), date.fromisoformat(d) if d else None, src, uid)
        for a, addr, name, progs, d, src, uid in out["rows"]
    ]
    print(f"\nbz2 parse: {out['seconds']:.1f} s, peak RSS {out['peak'] / 2**20:.1f} MiB")
    return ParseRun(entries, out["seconds"], out["peak"])


@pytest.fixture(scope="module")
def entries(traced_run: ParseRun) -> list[SanctionEntry]:
    return traced_run.entries


@pytest.fixture(scope="module")
def plain_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sanctions") / "sdn_advanced.xml"
    with bz2.open(XML_BZ2, "rb") as source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink, length=1 << 20)
    return target


def by_asset(entries: list[SanctionEntry]) -> dict[str, set[str]]:
    addresses: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        addresses[entry.asset].add(entry.address)
    return dict(addresses)


def asset_files(suffix: str) -> dict[str, Path]:
    files = DATA_DIR.glob(f"sanctioned_addresses_*{suffix}")
    return {path.stem.removeprefix("sanctioned_addresses_"): path for path in files}


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def entries_for(entries: list[SanctionEntry], address: str) -> list[SanctionEntry]:
    return [entry for entry in entries if entry.address == address]


# --- the XML against the per-asset lists ----------------------------------------------------


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_xml_yields_exactly_the_per_asset_lists(entries: list[SanctionEntry], suffix: str) -> None:
    listed = {
        asset: {entry.address for entry in iter_asset_list(path)}
        for asset, path in asset_files(suffix).items()
    }
    from_xml = by_asset(entries)

    assert set(from_xml) == set(listed)
    for asset in listed:
        assert from_xml[asset] == listed[asset], asset
    assert {asset: len(addresses) for asset, addresses in from_xml.items()} == EXPECTED_COUNTS


def test_every_xml_entry_is_complete(entries: list[SanctionEntry]) -> None:
    assert len(entries) == 760  # 758 distinct (asset, address) pairs; 2 shared by two parties
    assert len({(e.asset, e.address) for e in entries}) == sum(EXPECTED_COUNTS.values())
    assert len({e.uid for e in entries}) == 79
    for entry in entries:
        assert entry.source == SOURCE_OFAC_XML
        assert entry.entity_name and entry.programs and entry.uid.isdigit()
        assert entry.listed_on is not None and entry.listed_on <= date(2025, 12, 4)
        assert entry.address == entry.address.strip()


def test_lazarus_group_entry(entries: list[SanctionEntry]) -> None:
    assert entries_for(entries, LAZARUS_ETH) == [
        SanctionEntry(
            asset="ETH",
            address=LAZARUS_ETH,
            entity_name="Lazarus Group",
            programs=("DPRK3",),
            listed_on=date(2019, 9, 13),
            source=SOURCE_OFAC_XML,
            uid="27307",
        )
    ]
    lazarus = [e for e in entries if e.uid == "27307"]
    assert Counter(e.asset for e in lazarus) == {"ETH": 8}


def test_garantex_entry_has_both_programs(entries: list[SanctionEntry]) -> None:
    (entry,) = entries_for(entries, GARANTEX_TRX)
    assert (entry.asset, entry.entity_name, entry.uid) == ("TRX", "GARANTEX EUROPE OU", "36025")
    assert entry.programs == ("CYBER4", "RUSSIA-EO14024")
    assert entry.listed_on == date(2022, 4, 5)
    garantex = Counter(e.asset for e in entries if e.uid == "36025")
    assert garantex == {"XBT": 1, "ETH": 7, "USDT": 1, "TRX": 3}


def test_individual_name_parts_are_joined_in_document_order(entries: list[SanctionEntry]) -> None:
    (entry,) = entries_for(entries, BTC_P2PKH)
    assert (entry.entity_name, entry.programs, entry.listed_on) == (
        "YAN Xiaobing",
        ("SDNTK",),
        date(2019, 8, 21),
    )


def test_address_shared_by_two_parties_yields_one_entry_per_party(
    entries: list[SanctionEntry],
) -> None:
    shared = entries_for(entries, "LeKvNdNEzgQkzVVnRdV3fAu2DSF1nLsNw6")
    assert sorted((e.asset, e.uid, e.entity_name) for e in shared) == [
        ("LTC", "30518", "Secondeye Solution"),
        ("LTC", "30520", "RAZA Mujtaba Ali"),
    ]


def test_address_listed_twice_by_one_party_yields_once(entries: list[SanctionEntry]) -> None:
    (entry,) = entries_for(entries, "3F6bbvS1krsc1qR8FsbTDfYQyvkMm3QvmR")
    assert (entry.asset, entry.entity_name, entry.uid) == ("XBT", "Blender.io", "37070")


# --- formats, memory, checksum ---------------------------------------------------------------


def test_plain_xml_gives_the_same_entries_as_bz2(traced_run: ParseRun, plain_xml: Path) -> None:
    assert list(iter_sanctions_file(plain_xml)) == traced_run.entries


def test_memory_stays_flat(traced_run: ParseRun) -> None:
    assert traced_run.peak_bytes < MEMORY_LIMIT


def test_published_checksum_is_of_the_uncompressed_xml(plain_xml: Path, tmp_path: Path) -> None:
    assert verify_checksum(plain_xml, CHECKSUM) is True

    wrong = write(tmp_path, "wrong.txt", "SHA256(sdn_advanced.xml) = " + "0" * 64 + "\n")
    assert verify_checksum(plain_xml, wrong) is False


def test_malformed_checksum_file_is_rejected(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.txt", "36c517bd264d8d97 sdn_advanced.xml\n")
    with pytest.raises(ValidationFailed) as caught:
        verify_checksum(write(tmp_path, "sdn_advanced.xml", "<Sanctions/>"), bad)
    assert caught.value.code == "invalid_checksum_file"


# --- small documents: structure and failure paths --------------------------------------------

NS = "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML"
MINI_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<Sanctions xmlns="{NS}">
  <ReferenceValueSets>
    <DocNameStatusValues>
      <DocNameStatus ID="1">Primary Latin</DocNameStatus>
      <DocNameStatus ID="2">Others</DocNameStatus>
    </DocNameStatusValues>
    <FeatureTypeValues>
      <FeatureType ID="3">Nationality Country</FeatureType>
      <FeatureType ID="887">Digital Currency Address - USDT</FeatureType>
    </FeatureTypeValues>
    <SanctionsTypeValues>
      <SanctionsType ID="1705">Block</SanctionsType>
      <SanctionsType ID="1">Program</SanctionsType>
    </SanctionsTypeValues>
  </ReferenceValueSets>
  <DistinctParties>
    <DistinctParty FixedRef="7"><Profile ID="7">
      <Identity Primary="true">
        <Alias Primary="false"><DocumentedName DocNameStatusID="1"><DocumentedNamePart>
          <NamePartValue>NICKNAME</NamePartValue></DocumentedNamePart></DocumentedName></Alias>
        <Alias Primary="true">
          <DocumentedName DocNameStatusID="2"><DocumentedNamePart>
            <NamePartValue>Non-Latin</NamePartValue></DocumentedNamePart></DocumentedName>
          <DocumentedName DocNameStatusID="1">
            <DocumentedNamePart><NamePartValue>DOE</NamePartValue></DocumentedNamePart>
            <DocumentedNamePart><NamePartValue>John</NamePartValue></DocumentedNamePart>
          </DocumentedName>
        </Alias>
      </Identity>
      <Feature FeatureTypeID="3"><FeatureVersion><VersionDetail>Utopia</VersionDetail>
        </FeatureVersion></Feature>
      <Feature FeatureTypeID="887"><FeatureVersion><VersionDetail> {GARANTEX_TRX} </VersionDetail>
        </FeatureVersion></Feature>
    </Profile></DistinctParty>
    <DistinctParty FixedRef="8"><Profile ID="8">
      <Identity Primary="true"><Alias Primary="true"><DocumentedName DocNameStatusID="1">
        <DocumentedNamePart><NamePartValue>UNLISTED CO</NamePartValue></DocumentedNamePart>
      </DocumentedName></Alias></Identity>
      <Feature FeatureTypeID="887"><FeatureVersion><VersionDetail>{LAZARUS_ETH}</VersionDetail>
        </FeatureVersion></Feature>
    </Profile></DistinctParty>
  </DistinctParties>
  <SanctionsEntries>
    <SanctionsEntry ProfileID="7" ListID="1550">
      <EntryEvent><Date><Year>2024</Year><Month>3</Month><Day>20</Day></Date></EntryEvent>
      <EntryEvent><Date><Year>2022</Year><Month>9</Month><Day>15</Day></Date></EntryEvent>
      <SanctionsMeasure SanctionsTypeID="1705"><Comment>not a program</Comment></SanctionsMeasure>
      <SanctionsMeasure SanctionsTypeID="1"><Comment>SDGT</Comment></SanctionsMeasure>
      <SanctionsMeasure SanctionsTypeID="1"><Comment>CYBER2</Comment></SanctionsMeasure>
    </SanctionsEntry>
    <SanctionsEntry ProfileID="7" ListID="91512">
      <SanctionsMeasure SanctionsTypeID="1"><Comment>SDGT</Comment></SanctionsMeasure>
    </SanctionsEntry>
  </SanctionsEntries>
</Sanctions>
"""


def test_small_document_structure(tmp_path: Path) -> None:
    path = write(tmp_path, "mini.xml", MINI_XML)
    assert list(iter_ofac_advanced_xml(path)) == [
        SanctionEntry(
            asset="USDT",
            address=GARANTEX_TRX,
            entity_name="DOE John",
            programs=("CYBER2", "SDGT"),
            listed_on=date(2022, 9, 15),
            source=SOURCE_OFAC_XML,
            uid="7",
        ),
        SanctionEntry(
            asset="USDT",
            address=LAZARUS_ETH,
            entity_name="UNLISTED CO",
            programs=(),
            listed_on=None,
            source=SOURCE_OFAC_XML,
            uid="8",
        ),
    ]


def test_small_document_without_namespace_and_compressed(tmp_path: Path) -> None:
    plain = MINI_XML.replace(f' xmlns="{NS}"', "")
    path = write(tmp_path, "mini.xml.bz2", bz2.compress(plain.encode()))
    assert [e.address for e in iter_sanctions_file(path)] == [GARANTEX_TRX, LAZARUS_ETH]


def test_checksum_of_a_bz2_file_is_taken_decompressed(tmp_path: Path) -> None:
    # Small stand-in for the real .bz2 (decompressing 121 MB once more would cost seconds).
    compressed = write(tmp_path, "sdn_advanced.xml.bz2", bz2.compress(MINI_XML.encode()))
    plain_digest = hashlib.sha256(MINI_XML.encode()).hexdigest()
    raw_digest = hashlib.sha256(compressed.read_bytes()).hexdigest()
    of_plain = write(tmp_path, "a.txt", f"SHA256(sdn_advanced.xml) = {plain_digest}")
    of_raw = write(tmp_path, "b.txt", f"SHA256(sdn_advanced.xml.bz2) = {raw_digest}")

    assert verify_checksum(compressed, of_plain) is True
    assert verify_checksum(compressed, of_raw) is True
    assert verify_checksum(write(tmp_path, "mini.xml", MINI_XML), of_raw) is False


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("truncated.xml", MINI_XML[: len(MINI_XML) // 2]),
        ("garbage.xml", "this is not xml <<<"),
        ("mismatched.xml", f'<Sanctions xmlns="{NS}"><DistinctParties></Sanctions>'),
        ("wrong_root.xml", f'<Other xmlns="{NS}"><DistinctParties/></Other>'),
        ("no_crypto_types.xml", f'<Sanctions xmlns="{NS}"><ReferenceValueSets/></Sanctions>'),
        ("not_bzip2.xml.bz2", "plain text, not bzip2"),
        ("truncated.xml.bz2", bz2.compress(MINI_XML.encode())[:-40]),
    ],
)
def test_malformed_xml_is_rejected(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ValidationFailed) as caught:
        list(iter_sanctions_file(path))
    assert caught.value.code == "invalid_sanctions_file"
    assert caught.value.fields["path"] == str(path)


# --- per-asset lists and dispatch ------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_asset_list_entries(suffix: str) -> None:
    path = DATA_DIR / f"sanctioned_addresses_ARB{suffix}"
    assert list(iter_sanctions_file(path)) == [
        SanctionEntry(
            asset="ARB",
            address="0x4f47bc496083c727c5fbe3ce9cdf2b0f6496270c",
            entity_name="",
            programs=(),
            listed_on=None,
            source=SOURCE_ASSET_LIST,
            uid="",
        )
    ]


def test_asset_list_keeps_listed_case_and_order() -> None:
    path = DATA_DIR / "sanctioned_addresses_ETH.txt"
    addresses = [entry.address for entry in iter_asset_list(path)]
    assert addresses == path.read_text().splitlines()
    assert addresses[4] == LAZARUS_ETH


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("sanctioned_addresses_ETH.json", '{"addresses": []}'),
        ("sanctioned_addresses_ETH.json", '["0xabc", 7]'),
        ("sanctioned_addresses_ETH.json", '["0xabc",'),
        ("sanctioned_addresses_ETH.txt", "0xabc 0xdef\n"),
        ("sanctioned_addresses_ETH.txt", b"\xff\xfe\x00"),
    ],
)
def test_malformed_asset_list_is_rejected(tmp_path: Path, name: str, content: str | bytes) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ValidationFailed) as caught:
        list(iter_sanctions_file(path))
    assert caught.value.code == "invalid_sanctions_file"


@pytest.mark.parametrize(
    "name", ["sdn.csv", "sdn_advanced_checksum.txt", "addresses.json", "sdn.xml.gz", "README.md"]
)
def test_unsupported_file_is_rejected(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "x")
    with pytest.raises(ValidationFailed) as caught:
        list(iter_sanctions_file(path))
    assert caught.value.code == "unsupported_sanctions_file"


# --- address families and normalisation ------------------------------------------------------


def test_usdt_list_splits_into_known_families() -> None:
    usdt = iter_asset_list(DATA_DIR / "sanctioned_addresses_USDT.txt")
    families = Counter(classify_address(entry.address) for entry in usdt)
    # Ethereum (ERC-20), TRON (TRC-20) and Omni (Bitcoin-format) USDT; nothing unrecognised.
    assert families == {"tron": 78, "evm": 8, "bitcoin": 7}


def test_single_chain_lists_classify_as_their_family() -> None:
    def families(asset: str) -> Counter[str]:
        path = DATA_DIR / f"sanctioned_addresses_{asset}.txt"
        return Counter(classify_address(e.address) for e in iter_asset_list(path))

    assert families("ETH") == {"evm": 77}
    assert families("TRX") == {"tron": 29}
    # OFAC lists one TRON address under XBT, hence importers use canonical_address, not
    # normalize_address(asset, ...), for list entries.
    assert families("XBT") == {"bitcoin": 516, "tron": 1}
    assert families("XMR") == {"other": 8}
    assert families("BNB") == {"other": 1}  # bnb1... Beacon Chain, not BNB Smart Chain


def test_evm_normalisation_lowercases() -> None:
    assert normalize_address("ETH", LAZARUS_ETH) == LAZARUS_ETH.lower()
    assert normalize_address("usdt", LAZARUS_ETH.upper().replace("0X", "0x")) == LAZARUS_ETH.lower()
    eth_list = [e.address for e in iter_asset_list(DATA_DIR / "sanctioned_addresses_ETH.txt")]
    assert any(a != a.lower() for a in eth_list)
    assert len({canonical_address(a) for a in eth_list}) == len(eth_list) == 77


def test_base58_addresses_are_kept_exactly() -> None:
    assert normalize_address("TRX", f"  {GARANTEX_TRX}\n") == GARANTEX_TRX
    assert normalize_address("XBT", BTC_P2PKH) == BTC_P2PKH
    assert classify_address(GARANTEX_TRX.lower()) == "other"  # base58 is case-sensitive


def test_bech32_is_lowercased_and_mixed_case_rejected() -> None:
    assert classify_address(BTC_BECH32) == "bitcoin"
    assert normalize_address("BTC", BTC_BECH32.upper()) == BTC_BECH32
    mixed = BTC_BECH32[:10] + BTC_BECH32[10:].upper()
    with pytest.raises(ValidationFailed) as caught:
        normalize_address("BTC", mixed)
    assert caught.value.code == "invalid_address"


@pytest.mark.parametrize(
    ("address", "family"),
    [
        (LAZARUS_ETH, "evm"),
        (GARANTEX_TRX, "tron"),
        (BTC_P2PKH, "bitcoin"),
        ("3F6bbvS1krsc1qR8FsbTDfYQyvkMm3QvmR", "bitcoin"),
        (BTC_BECH32, "bitcoin"),
        (GARANTEX_TRX[:-1] + "x", "other"),  # broken base58 checksum
        (BTC_BECH32[:-1] + "q", "other"),  # broken bech32 checksum
        (LAZARUS_ETH[:-1], "other"),  # 39 hex digits
        ("LeKvNdNEzgQkzVVnRdV3fAu2DSF1nLsNw6", "other"),  # Litecoin
        ("", "other"),
    ],
)
def test_classify_address(address: str, family: str) -> None:
    assert classify_address(address) == family


def test_normalize_rejects_an_address_of_another_chain() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_address("ETH", GARANTEX_TRX)
    assert caught.value.code == "address_chain_mismatch"
    assert normalize_address("USDT", GARANTEX_TRX) == GARANTEX_TRX  # multi-chain token


@pytest.mark.parametrize("address", ["", "   ", "0xabc def"])
def test_normalize_rejects_blank_or_split_input(address: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        canonical_address(address)
    assert caught.value.code == "invalid_address"


def test_chain_family() -> None:
    assert chain_family(" bsc ") == "evm"
    assert chain_family("TRX") == "tron"
    assert chain_family("XBT") == chain_family("BTC") == "bitcoin"
    assert chain_family("USDT") is None
    assert chain_family("BNB") is None


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40))
def test_evm_canonical_form_is_lowercase_and_idempotent(hex_digits: str) -> None:
    canonical = normalize_address("ETH", "0x" + hex_digits)
    assert canonical == "0x" + hex_digits.lower()
    assert normalize_address("ETH", canonical) == canonical


def test_json_and_txt_lists_are_identical() -> None:
    for asset, json_path in asset_files(".json").items():
        txt_path = DATA_DIR / f"sanctioned_addresses_{asset}.txt"
        assert json.loads(json_path.read_text()) == txt_path.read_text().splitlines(), asset
