"""Parsers for OFAC sanctions data: the SDN "advanced" XML and the per-asset address lists.

Pure Python, no ORM: every parser yields ``SanctionEntry`` values and leaves storing, diffing
(additions *and* delistings) and matching to the importer.

OFAC advanced XML (``sdn_advanced.xml``, ~121 MB, optionally ``.bz2``)
    The document is ``<Sanctions xmlns="...ADVANCED_XML">`` with these sections, in this order:
    ``ReferenceValueSets`` (lookup tables), ``Locations``, ``IDRegDocuments``, ``DistinctParties``,
    ``ProfileRelationships``, ``SanctionsEntries``. A crypto address is a ``Feature`` of a
    party's ``Profile`` whose ``FeatureTypeID`` names a ``FeatureType`` with the text
    "Digital Currency Address - <ASSET>"; the address is the text of
    ``Feature/FeatureVersion/VersionDetail``. The party's name is the primary ``Identity``'s
    primary ``Alias``: its "Primary Latin" ``DocumentedName`` with the ``NamePartValue`` texts
    joined by a space. Programs and the listing date live in the later ``SanctionsEntry``
    elements (keyed by ``ProfileID``): the ``Comment`` of each ``SanctionsMeasure`` whose type is
    "Program" (e.g. ``CYBER2``) and the ``EntryEvent/Date``. When a profile has several events or
    entries, the earliest date is kept (the original designation) and the programs are united and
    sorted. One party listing the same address twice for the same asset (it happens) yields one
    entry; the same address listed for two parties yields one entry per party (``uid`` differs).

    Memory stays flat: one streaming pass with ``iterparse``; every record (a child of a section,
    e.g. one ``DistinctParty``) is handled when it closes and then dropped from the tree, so at
    most one record is held at a time. Because ``SanctionsEntries`` come after ``DistinctParties``,
    the parties that *have* crypto addresses (a few hundred of the ~18,000) are buffered in compact
    form until the end of the document, and only then are their entries yielded. Lookup tables
    are read from ``ReferenceValueSets`` (never hard-coded ids), and the namespace is taken from
    the root element, so a new OFAC schema version with another namespace still parses.

    Safety: ``xml.etree`` never fetches external entities or DTDs, and the expat bundled with
    Python 3.11 limits entity expansion (billion laughs). A file that is not well-formed, not an
    OFAC advanced document, or declares no digital-currency feature types raises
    ``ValidationFailed(code="invalid_sanctions_file")``: an importer must never mistake a broken
    file for an empty list (that would delist everything).

Per-asset lists (``sanctioned_addresses_<ASSET>.txt`` / ``.json``)
    One address per line / a JSON array of strings, as published by
    brave-intl/ofac-sanctioned-digital-currency-addresses. The asset comes from the file name.

``verify_checksum`` checks the ``SHA256(sdn_advanced.xml) = <hex>`` file shipped with the
snapshot. The digest is of the *uncompressed* XML, so a ``.bz2`` path is hashed decompressed.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

from nexora.common.errors import ValidationFailed

SOURCE_OFAC_XML = "ofac_sdn_advanced"
SOURCE_ASSET_LIST = "ofac_asset_list"

_FEATURE_TYPE_PREFIX = "Digital Currency Address - "
_PRIMARY_LATIN = "Primary Latin"
_PROGRAM_SANCTIONS_TYPE = "Program"
_ROOT_TAG = "Sanctions"
_ASSET_FILE_RE = re.compile(r"sanctioned_addresses_(?P<asset>[A-Za-z0-9]+)\.(?:txt|json)")
# The openssl-dgst line shipped with the snapshot: "SHA256(sdn_advanced.xml) = <hex digest>".
_CHECKSUM_RE = re.compile(r"(?P<algo>[\w-]+)\((?P<name>[^)]+)\)\s*=\s*(?P<digest>[0-9a-fA-F]+)")
_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SanctionEntry:
    """One sanctioned address as listed by one source."""

    asset: str
    address: str
    entity_name: str
    programs: tuple[str, ...]
    listed_on: date | None
    source: str
    uid: str


# --- dispatch --------------------------------------------------------------------------------


def iter_sanctions_file(path: str | Path) -> Iterator[SanctionEntry]:
    """Parse any supported sanctions file, choosing the parser by the file name."""
    name = Path(path).name.lower()
    if name.endswith((".xml", ".xml.bz2")):
        return iter_ofac_advanced_xml(path)
    if name.endswith((".txt", ".json")):
        return iter_asset_list(path)
    raise _unsupported(path)


# --- OFAC advanced XML -----------------------------------------------------------------------


def iter_ofac_advanced_xml(path: str | Path) -> Iterator[SanctionEntry]:
    """Stream the crypto addresses of an OFAC SDN advanced XML file (plain or ``.bz2``)."""
    path = Path(path)
    opener: Any = bz2.open if path.name.lower().endswith(".bz2") else open
    with opener(path, "rb") as stream:
        reader = _AdvancedXmlReader()
        try:
            reader.consume(stream)
        except (ET.ParseError, EOFError, OSError) as exc:
            raise _invalid(path, str(exc)) from exc
        if not reader.feature_assets:
            raise _invalid(path, "no 'Digital Currency Address' feature types")
    yield from reader.entries()


@dataclass(slots=True)
class _Party:
    """A buffered party with crypto addresses, filled in by its later sanctions entries."""

    uid: str
    name: str
    addresses: list[tuple[str, str]]
    programs: list[str] = field(default_factory=list)
    listed_on: date | None = None


class _AdvancedXmlReader:
    """One streaming pass over the document; see the module docstring for the memory model."""

    def __init__(self) -> None:
        self.ns = ""
        self.feature_assets: dict[str, str] = {}
        self.primary_latin_ids: set[str] = set()
        self.program_type_ids: set[str] = set()
        self.parties: dict[str, _Party] = {}

    def consume(self, stream: IO[bytes]) -> None:
        depth = 0
        section: ET.Element | None = None
        # OFAC publication; ET resolves no external entities (see "Safety" above)
        for event, elem in ET.iterparse(stream, events=("start", "end")):  # noqa: S314
            if event == "start":
                depth += 1
                if depth == 1:
                    self._check_root(elem)
                elif depth == 2:
                    section = elem
                continue
            depth -= 1
            if depth == 2 and section is not None:
                self._handle_record(elem)
                section.clear()  # drops the finished record, so memory stays flat

    def entries(self) -> Iterator[SanctionEntry]:
        for party in self.parties.values():
            for asset, address in party.addresses:
                yield SanctionEntry(
                    asset=asset,
                    address=address,
                    entity_name=party.name,
                    programs=tuple(sorted(party.programs)),
                    listed_on=party.listed_on,
                    source=SOURCE_OFAC_XML,
                    uid=party.uid,
                )

    def _check_root(self, root: ET.Element) -> None:
        namespace, _, local = root.tag.rpartition("}")
        if local != _ROOT_TAG:
            raise ET.ParseError(f"root element is <{local}>, expected <{_ROOT_TAG}>")
        self.ns = f"{namespace}}}" if namespace else ""

    def _handle_record(self, elem: ET.Element) -> None:
        local = elem.tag[len(self.ns) :]
        if local == "FeatureTypeValues":
            self._read_feature_types(elem)
        elif local == "DocNameStatusValues":
            self.primary_latin_ids = _ids_with_text(elem, _PRIMARY_LATIN)
        elif local == "SanctionsTypeValues":
            self.program_type_ids = _ids_with_text(elem, _PROGRAM_SANCTIONS_TYPE)
        elif local == "DistinctParty":
            self._read_party(elem)
        elif local == "SanctionsEntry":
            self._read_sanctions_entry(elem)

    def _read_feature_types(self, values: ET.Element) -> None:
        for feature_type in values:
            text = (feature_type.text or "").strip()
            if text.startswith(_FEATURE_TYPE_PREFIX):
                asset = text.removeprefix(_FEATURE_TYPE_PREFIX).strip()
                self.feature_assets[feature_type.get("ID", "")] = asset

    def _read_party(self, party: ET.Element) -> None:
        for profile in party.iterfind(f"{self.ns}Profile"):
            addresses = list(dict.fromkeys(self._profile_addresses(profile)))
            if addresses:
                uid = profile.get("ID", "")
                self.parties[uid] = _Party(uid, self._profile_name(profile), addresses)

    def _profile_addresses(self, profile: ET.Element) -> Iterator[tuple[str, str]]:
        ns = self.ns
        for feature in profile.iterfind(f"{ns}Feature"):
            asset = self.feature_assets.get(feature.get("FeatureTypeID", ""))
            if asset is None:
                continue
            for detail in feature.iterfind(f"{ns}FeatureVersion/{ns}VersionDetail"):
                address = (detail.text or "").strip()
                if address:
                    yield asset, address

    def _profile_name(self, profile: ET.Element) -> str:
        ns = self.ns
        alias = profile.find(f"{ns}Identity[@Primary='true']/{ns}Alias[@Primary='true']")
        if alias is None:
            alias = profile.find(f"{ns}Identity/{ns}Alias")
        if alias is None:
            return ""
        names = alias.findall(f"{ns}DocumentedName")
        primary = [n for n in names if n.get("DocNameStatusID") in self.primary_latin_ids]
        if not names:
            return ""
        chosen = (primary or names)[0]
        parts = chosen.iterfind(f"{ns}DocumentedNamePart/{ns}NamePartValue")
        return " ".join(text for part in parts if (text := (part.text or "").strip()))

    def _read_sanctions_entry(self, entry: ET.Element) -> None:
        party = self.parties.get(entry.get("ProfileID", ""))
        if party is None:
            return
        ns = self.ns
        for measure in entry.iterfind(f"{ns}SanctionsMeasure"):
            program = (measure.findtext(f"{ns}Comment") or "").strip()
            is_program = measure.get("SanctionsTypeID") in self.program_type_ids
            if is_program and program and program not in party.programs:
                party.programs.append(program)
        dates = [_parse_date(d, ns) for d in entry.iterfind(f"{ns}EntryEvent/{ns}Date")]
        party.listed_on = _earliest([party.listed_on, *dates])


def _ids_with_text(values: ET.Element, text: str) -> set[str]:
    return {item.get("ID", "") for item in values if (item.text or "").strip() == text}


def _parse_date(elem: ET.Element, ns: str) -> date | None:
    try:
        parts = [int(elem.findtext(f"{ns}{unit}") or "") for unit in ("Year", "Month", "Day")]
        return date(*parts)
    except ValueError:
        return None


def _earliest(dates: Iterable[date | None]) -> date | None:
    return min((d for d in dates if d is not None), default=None)


# --- per-asset lists -------------------------------------------------------------------------


def iter_asset_list(path: str | Path) -> Iterator[SanctionEntry]:
    """Parse ``sanctioned_addresses_<ASSET>.txt`` (one per line) or ``.json`` (array of str)."""
    path = Path(path)
    match = _ASSET_FILE_RE.fullmatch(path.name)
    if match is None:
        raise _unsupported(path)
    asset = match["asset"].upper()
    reader = _read_json_list if path.suffix.lower() == ".json" else _read_text_list
    for address in reader(path):
        yield SanctionEntry(
            asset=asset,
            address=address,
            entity_name="",
            programs=(),
            listed_on=None,
            source=SOURCE_ASSET_LIST,
            uid="",
        )


def _read_text_list(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise _invalid(path, "not UTF-8 text") from exc
    addresses = [line.strip() for line in lines if line.strip()]
    if any(len(address.split()) != 1 for address in addresses):
        raise _invalid(path, "a line holds more than one token")
    return addresses


def _read_json_list(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(path, "not valid JSON") from exc
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise _invalid(path, "expected a JSON array of strings")
    return [item.strip() for item in data if item.strip()]


# --- checksum --------------------------------------------------------------------------------


def verify_checksum(xml_path: str | Path, checksum_path: str | Path) -> bool:
    """True if ``xml_path`` matches the ``ALGO(name) = hex`` line in ``checksum_path``.

    The published digest is of the uncompressed XML, so a ``.bz2`` file is hashed decompressed
    (unless the checksum line itself names a ``.bz2`` file).
    """
    xml_path, checksum_path = Path(xml_path), Path(checksum_path)
    algo, named_file, expected = _read_checksum_line(checksum_path)
    decompress = xml_path.name.lower().endswith(".bz2") and not named_file.endswith(".bz2")
    opener: Any = bz2.open if decompress else open
    digest = hashlib.new(algo)
    with opener(xml_path, "rb") as stream:
        while chunk := stream.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == expected


def _read_checksum_line(path: Path) -> tuple[str, str, str]:
    match = _CHECKSUM_RE.fullmatch(path.read_text(encoding="utf-8", errors="replace").strip())
    algo = match["algo"].lower().replace("-", "") if match else ""
    if match is None or algo not in hashlib.algorithms_available:
        raise ValidationFailed(
            "The checksum file is not in the 'ALGO(file) = hexdigest' format.",
            code="invalid_checksum_file",
            fields={"path": str(path)},
        )
    return algo, match["name"].strip().lower(), match["digest"].lower()


# --- errors ----------------------------------------------------------------------------------


def _invalid(path: Path, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"The sanctions file {path.name} could not be parsed: {reason}.",
        code="invalid_sanctions_file",
        fields={"path": str(path), "reason": reason},
    )


def _unsupported(path: str | Path) -> ValidationFailed:
    return ValidationFailed(
        f"Unsupported sanctions file {Path(path).name}: expected .xml, .xml.bz2, "
        "sanctioned_addresses_<ASSET>.txt or sanctioned_addresses_<ASSET>.json.",
        code="unsupported_sanctions_file",
        fields={"path": str(path)},
    )
