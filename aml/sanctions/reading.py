"""Reading sanctions files into one ``SanctionsBatch``: everything an import needs, before any SQL.

An import is either **one OFAC SDN advanced XML** file (plain or ``.bz2``) or **any number of
per-asset lists** (``sanctioned_addresses_<ASSET>.txt`` / ``.json``); mixing the two in one import
is refused, because their delisting scopes differ (an XML file speaks for everything from its
source, a per-asset list only for its asset) and one import records one scope.

What is recorded of each file: its name, size and the SHA-256 of its bytes as stored (for a
``.bz2`` file, of the compressed bytes). When OFAC's ``sdn_advanced_checksum.txt`` sits beside an
XML file, it is verified first (its digest is of the uncompressed XML) and a mismatch refuses the
import. OFAC's publication date is the document's ``DateOfIssue``, read from its first kilobytes.

Parsing is the existing streaming parser (``parsers``); the entries are then materialised (a few
hundred to a few thousand small tuples). A file that parses to no address at all is refused, so a
truncated or emptied download can never delist a whole source or asset.
"""

from __future__ import annotations

import bz2
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from django.utils import timezone

from aml.sanctions.parsers import (
    SOURCE_ASSET_LIST,
    SOURCE_OFAC_XML,
    SanctionEntry,
    iter_sanctions_file,
    verify_checksum,
)
from nexora.common.errors import ValidationFailed

CHECKSUM_FILE = "sdn_advanced_checksum.txt"
_XML_SUFFIXES = (".xml", ".xml.bz2")
_HEAD_BYTES = 16 * 1024
_DATE_OF_ISSUE_RE = re.compile(
    rb"<(?:\w+:)?DateOfIssue\b[^>]*>\s*<(?:\w+:)?Year>(\d{4})</(?:\w+:)?Year>\s*"
    rb"<(?:\w+:)?Month>(\d{1,2})</(?:\w+:)?Month>\s*<(?:\w+:)?Day>(\d{1,2})</(?:\w+:)?Day>"
)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SanctionsFile:
    name: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class SanctionsBatch:
    """What one import is made of. ``scope_assets`` is None for an XML file (the whole source)."""

    source_kind: str
    files: tuple[SanctionsFile, ...]
    scope_assets: tuple[str, ...] | None
    published_on: date | None
    checksum_verified: bool
    entries: tuple[SanctionEntry, ...]
    started_at: datetime


def sanctions_batch_read(*, paths: Sequence[str | Path]) -> SanctionsBatch:
    """Read, verify and parse ``paths`` (see the module docstring); raises ``ValidationFailed``."""
    started_at = timezone.now()
    files = _existing_files(paths)
    if _is_xml(files[0]):
        if len(files) != 1 or not all(_is_xml(path) for path in files):
            raise _mixed(files)
        return _read_xml(files[0], started_at)
    if any(_is_xml(path) for path in files):
        raise _mixed(files)
    return _read_asset_lists(files, started_at)


def _read_xml(path: Path, started_at: datetime) -> SanctionsBatch:
    checksum = path.parent / CHECKSUM_FILE
    verified = checksum.is_file() and _verify(path, checksum)
    entries = _parse(path)
    return SanctionsBatch(
        source_kind=SOURCE_OFAC_XML,
        files=(_describe(path),),
        scope_assets=None,
        published_on=_date_of_issue(path),
        checksum_verified=verified,
        entries=entries,
        started_at=started_at,
    )


def _read_asset_lists(paths: list[Path], started_at: datetime) -> SanctionsBatch:
    entries = tuple(entry for path in paths for entry in _parse(path))
    return SanctionsBatch(
        source_kind=SOURCE_ASSET_LIST,
        files=tuple(_describe(path) for path in paths),
        scope_assets=tuple(sorted({entry.asset for entry in entries})),
        published_on=None,
        checksum_verified=False,
        entries=entries,
        started_at=started_at,
    )


def _existing_files(paths: Sequence[str | Path]) -> list[Path]:
    unique = list(dict.fromkeys(Path(path).resolve() for path in paths))
    if not unique:
        raise ValidationFailed("Name at least one sanctions file.", code="no_sanctions_files")
    for path in unique:
        if not path.is_file():
            raise ValidationFailed(
                f"The sanctions file {path} does not exist or is not a file.",
                code="sanctions_file_not_found",
                fields={"path": str(path)},
            )
    return unique


def _is_xml(path: Path) -> bool:
    return path.name.lower().endswith(_XML_SUFFIXES)


def _verify(path: Path, checksum: Path) -> bool:
    if not verify_checksum(path, checksum):
        raise ValidationFailed(
            f"{path.name} does not match OFAC's checksum in {checksum.name}: the download is "
            "corrupt or the two files are from different publications.",
            code="sanctions_checksum_mismatch",
            fields={"path": str(path), "checksum_path": str(checksum)},
        )
    return True


def _parse(path: Path) -> tuple[SanctionEntry, ...]:
    entries = tuple(iter_sanctions_file(path))
    if not entries:
        raise ValidationFailed(
            f"The sanctions file {path.name} lists no address; refusing to import it (it would "
            "delist everything it covers).",
            code="empty_sanctions_file",
            fields={"path": str(path)},
        )
    return entries


def _describe(path: Path) -> SanctionsFile:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return SanctionsFile(name=path.name, size=path.stat().st_size, sha256=digest.hexdigest())


def _date_of_issue(path: Path) -> date | None:
    opener: Any = bz2.open if path.name.lower().endswith(".bz2") else open
    stream: IO[bytes]
    with opener(path, "rb") as stream:
        head = stream.read(_HEAD_BYTES)
    match = _DATE_OF_ISSUE_RE.search(head)
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _mixed(paths: list[Path]) -> ValidationFailed:
    return ValidationFailed(
        "An import reads either one OFAC XML file or any number of per-asset lists, not both "
        "(their delisting scopes differ); run one import for each.",
        code="mixed_sanctions_sources",
        fields={"paths": [str(path) for path in paths]},
    )
