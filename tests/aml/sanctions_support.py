"""Shared by the sanctions app's tests: where the real OFAC snapshot lives, and small helpers.

The snapshot sits beside the repository (``../shared/data/sanctions``), in CI as on a developer
machine; ``NEXORA_SANCTIONS_DATA`` moves it (as for the parser tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aml.sanctions.normalize import canonical_address, classify_address
from aml.sanctions.parsers import iter_asset_list
from aml.sanctions.signals import sanctions_listed

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("NEXORA_SANCTIONS_DATA", ROOT.parent / "shared" / "data" / "sanctions"))
XML_BZ2 = DATA_DIR / "sdn_advanced.xml.bz2"

LAZARUS_ETH = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"
GARANTEX_TRX = "TNDjh6WGLYyWmkh8vfu42bXVHUqFNQ3rDq"
BTC_P2PKH = "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"
BTC_BECH32 = "bc1q05aktddf9ce4p7hh3stgsf253m4vweu7nkhtmw"


def asset_files(suffix: str) -> list[Path]:
    return sorted(DATA_DIR.glob(f"sanctioned_addresses_*{suffix}"))


def asset_listings(suffix: str) -> set[tuple[str, str, str]]:
    """(family, canonical address, asset) of every per-asset file with ``suffix``."""
    return {
        (classify_address(canonical_address(e.address)), canonical_address(e.address), e.asset)
        for path in asset_files(suffix)
        for e in iter_asset_list(path)
    }


@contextmanager
def heard_signals() -> Iterator[list[dict[str, Any]]]:
    """Collect the keyword arguments of every ``sanctions_listed`` sent inside the block."""
    heard: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        heard.append({key: value for key, value in kwargs.items() if key != "signal"})

    sanctions_listed.connect(receiver, weak=False, dispatch_uid="tests-heard-signals")
    try:
        yield heard
    finally:
        sanctions_listed.disconnect(dispatch_uid="tests-heard-signals")


NS = "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML"
Party = tuple[str, str, list[tuple[str, str]]]  # profile id, name, [(asset, address), ...]


def mini_xml(parties: list[Party], *, issued: tuple[int, int, int] = (2025, 11, 19)) -> str:
    """A small OFAC advanced XML document in the real schema's shape (see the parser tests)."""
    assets = sorted({asset for _, _, addresses in parties for asset, _ in addresses})
    feature_ids = {asset: str(900 + index) for index, asset in enumerate(assets)}
    feature_types = "".join(
        f'<FeatureType ID="{feature_ids[a]}">Digital Currency Address - {a}</FeatureType>' for a in assets
    )
    year, month, day = issued
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Sanctions xmlns="{NS}">'
        f"<DateOfIssue><Year>{year}</Year><Month>{month}</Month><Day>{day}</Day></DateOfIssue>"
        '<ReferenceValueSets><DocNameStatusValues><DocNameStatus ID="1">Primary Latin</DocNameStatus>'
        f"</DocNameStatusValues><FeatureTypeValues>{feature_types}</FeatureTypeValues>"
        '<SanctionsTypeValues><SanctionsType ID="1">Program</SanctionsType></SanctionsTypeValues>'
        "</ReferenceValueSets><DistinctParties>"
        + "".join(_party(uid, name, addresses, feature_ids) for uid, name, addresses in parties)
        + "</DistinctParties><SanctionsEntries>"
        + "".join(
            f'<SanctionsEntry ProfileID="{uid}"><EntryEvent><Date><Year>2022</Year><Month>4</Month>'
            '<Day>5</Day></Date></EntryEvent><SanctionsMeasure SanctionsTypeID="1"><Comment>CYBER2'
            "</Comment></SanctionsMeasure></SanctionsEntry>"
            for uid, _, _ in parties
        )
        + "</SanctionsEntries></Sanctions>\n"
    )


def _party(uid: str, name: str, addresses: list[tuple[str, str]], feature_ids: dict[str, str]) -> str:
    features = "".join(
        f'<Feature FeatureTypeID="{feature_ids[asset]}"><FeatureVersion><VersionDetail>{address}'
        "</VersionDetail></FeatureVersion></Feature>"
        for asset, address in addresses
    )
    return (
        f'<DistinctParty FixedRef="{uid}"><Profile ID="{uid}"><Identity Primary="true">'
        '<Alias Primary="true"><DocumentedName DocNameStatusID="1"><DocumentedNamePart>'
        f"<NamePartValue>{name}</NamePartValue></DocumentedNamePart></DocumentedName></Alias>"
        f"</Identity>{features}</Profile></DistinctParty>"
    )
