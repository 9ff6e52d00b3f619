"""Sanctions imports into PostgreSQL, from the real OFAC snapshot: exact rows, delistings, scope.

The 121 MB XML is parsed **once** for this module (``xml_batch``: the same reader the command
uses, with OFAC's checksum verified); each test applies that batch, or a trimmed or revised copy
of it, to a fresh database. The file-level paths (command, checksum file, broken files, a trimmed
*file*) use the per-asset lists and small XML documents in the real schema.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from aml.sanctions.models import ListingStatus, SanctionedAddress, SanctionsImport
from aml.sanctions.normalize import canonical_address, classify_address
from aml.sanctions.parsers import SOURCE_ASSET_LIST, SOURCE_OFAC_XML, SanctionEntry
from aml.sanctions.reading import SanctionsBatch, sanctions_batch_read
from aml.sanctions.selectors import sanctioned_address_history, sanctions_match
from aml.sanctions.services import sanctions_import_apply, sanctions_import_run
from aml.sanctions.snapshot import holder
from nexora.common.errors import ValidationFailed
from nexora.common.models import AppendOnlyError, StatusChange
from tests.aml.sanctions_support import (
    BTC_P2PKH,
    DATA_DIR,
    GARANTEX_TRX,
    LAZARUS_ETH,
    XML_BZ2,
    asset_files,
    asset_listings,
    heard_signals,
    mini_xml,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

LAZARUS_UID = "27307"  # Lazarus Group: 8 ETH addresses, each listed by no other party
XML_PER_FAMILY = {"bitcoin": 526, "evm": 90, "other": 36, "tron": 108}


@pytest.fixture(scope="module")
def xml_batch() -> SanctionsBatch:
    return sanctions_batch_read(paths=[XML_BZ2])


@pytest.fixture(autouse=True)
def fresh_snapshot() -> Any:
    holder.reset()
    yield
    holder.reset()


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[..., SanctionsImport]:
    """Import a batch (or read ``paths``) and run its on-commit work (snapshot, signal)."""

    def apply(batch: SanctionsBatch | None = None, *, paths: Any = None, **kwargs: Any) -> SanctionsImport:
        with django_capture_on_commit_callbacks(execute=True):
            if batch is not None:
                return sanctions_import_apply(batch=batch, **kwargs)
            return sanctions_import_run(paths=paths, **kwargs)

    return apply


def without(batch: SanctionsBatch, drop: Callable[[SanctionEntry], bool]) -> SanctionsBatch:
    return replace(batch, entries=tuple(entry for entry in batch.entries if not drop(entry)))


def lazarus_or_yan(entry: SanctionEntry) -> bool:
    return entry.uid == LAZARUS_UID or entry.address == BTC_P2PKH


def counts(record: SanctionsImport) -> tuple[int, int, int, int]:
    return (record.added, record.delisted, record.unchanged, record.updated)


def family_counts(**by_family: tuple[int, int, int, int]) -> dict[str, dict[str, int]]:
    names = ("added", "delisted", "unchanged", "updated")
    return {family: dict(zip(names, values, strict=True)) for family, values in by_family.items()}


def database_state() -> tuple[int, list[Any], int]:
    rows = list(SanctionedAddress.objects.order_by("pk").values())
    return SanctionsImport.objects.count(), rows, StatusChange.objects.count()


# --- the snapshot, imported ---------------------------------------------------------------------


def test_xml_import_yields_exactly_the_addresses_of_the_per_asset_files(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport]
) -> None:
    record = run(xml_batch)

    rows = list(SanctionedAddress.objects.filter(listed_by_import=record))
    from_xml = {(row.family, row.address, row.asset) for row in rows}
    assert from_xml == asset_listings(".txt") == asset_listings(".json")
    assert len(from_xml) == 758 and len(rows) == 760  # 2 addresses are listed by two parties each
    assert Counter(row.family for row in rows if row.asset == "USDT") == {"tron": 78, "evm": 8, "bitcoin": 7}
    assert Counter(row.family for row in rows) == XML_PER_FAMILY
    assert all(row.address == row.address.lower() for row in rows if row.family == "evm")
    assert any(row.listed_as != row.address for row in rows if row.family == "evm")  # EIP-55 as listed
    assert {row.status for row in rows} == {ListingStatus.ACTIVE}

    assert (record.source_kind, counts(record), record.scope_assets) == (
        SOURCE_OFAC_XML,
        (760, 0, 0, 0),
        None,
    )
    assert record.per_family == family_counts(
        bitcoin=(526, 0, 0, 0), evm=(90, 0, 0, 0), other=(36, 0, 0, 0), tron=(108, 0, 0, 0)
    )
    assert (record.published_on, record.checksum_verified) == (date(2025, 11, 19), True)
    digest = hashlib.sha256(XML_BZ2.read_bytes()).hexdigest()
    assert record.files == [{"name": XML_BZ2.name, "size": XML_BZ2.stat().st_size, "sha256": digest}]
    assert record.started_at <= record.finished_at

    lazarus = SanctionedAddress.objects.get(address=LAZARUS_ETH.lower())
    assert (lazarus.listed_as, lazarus.entity_name, lazarus.programs, lazarus.listed_on) == (
        LAZARUS_ETH,
        "Lazarus Group",
        ["DPRK3"],
        date(2019, 9, 13),
    )
    assert (lazarus.party_uid, lazarus.list_name, lazarus.source) == (
        LAZARUS_UID,
        "OFAC SDN",
        SOURCE_OFAC_XML,
    )


def test_per_asset_lists_give_the_same_listings_as_the_xml(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport]
) -> None:
    xml = run(xml_batch)
    lists = run(paths=asset_files(".txt"))

    rows = SanctionedAddress.objects.filter(listed_by_import=lists)
    assert {(r.family, r.address, r.asset) for r in rows} == {
        (r.family, r.address, r.asset) for r in SanctionedAddress.objects.filter(listed_by_import=xml)
    }
    assert (lists.source_kind, counts(lists), rows.count()) == (SOURCE_ASSET_LIST, (758, 0, 0, 0), 758)
    assert lists.scope_assets == sorted(path.stem.split("_")[-1] for path in asset_files(".txt"))
    assert {(r.party_uid, r.entity_name, r.listed_on) for r in rows} == {("", "", None)}
    assert SanctionedAddress.objects.filter(listed_by_import=xml, status=ListingStatus.ACTIVE).count() == 760


def test_a_second_import_of_the_same_file_changes_nothing(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport]
) -> None:
    run(xml_batch)
    rows_before = list(SanctionedAddress.objects.order_by("pk").values())

    with heard_signals() as heard:
        second = run(xml_batch)

    assert counts(second) == (0, 0, 760, 0)
    assert second.per_family == family_counts(
        bitcoin=(0, 0, 526, 0), evm=(0, 0, 90, 0), other=(0, 0, 36, 0), tron=(0, 0, 108, 0)
    )
    assert list(SanctionedAddress.objects.order_by("pk").values()) == rows_before
    assert not StatusChange.objects.filter(entity="sanctioned_address").exists()
    assert heard == []


def test_the_signal_carries_exactly_the_newly_listed_pairs(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport]
) -> None:
    with heard_signals() as heard:
        record = run(xml_batch)

    canonical = {canonical_address(entry.address) for entry in xml_batch.entries}
    expected = tuple(sorted((classify_address(address), address) for address in canonical))
    assert len(expected) == 745  # 758 (asset, address) listings, 13 addresses under two assets
    assert heard == [{"import_id": record.pk, "added": expected}]

    # The per-asset lists add 758 listings but no new address: nothing to re-screen, no signal.
    with heard_signals() as heard:
        lists = run(paths=asset_files(".json"))
    assert (lists.added, heard) == (758, [])


# --- delisting and re-listing -------------------------------------------------------------------


def test_a_trimmed_copy_delists_exactly_the_removed_listings(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport]
) -> None:
    first = run(xml_batch)
    removed = [entry for entry in xml_batch.entries if lazarus_or_yan(entry)]
    assert len(removed) == 9
    assert sanctions_match(LAZARUS_ETH) and sanctions_match(BTC_P2PKH)

    second = run(without(xml_batch, lazarus_or_yan))

    assert counts(second) == (0, 9, 751, 0)
    assert second.per_family == family_counts(
        bitcoin=(0, 1, 525, 0), evm=(0, 8, 82, 0), other=(0, 0, 36, 0), tron=(0, 0, 108, 0)
    )
    delisted = list(SanctionedAddress.objects.filter(status=ListingStatus.DELISTED))
    assert {(row.address, row.asset, row.party_uid) for row in delisted} == {
        (canonical_address(entry.address), entry.asset, entry.uid) for entry in removed
    }
    for row in delisted:
        assert (row.listed_by_import_id, row.delisted_by_import_id) == (first.pk, second.pk)
        assert row.delisted_at is not None
    audit = StatusChange.objects.filter(entity="sanctioned_address")
    assert sorted((int(a.entity_id), a.from_status, a.to_status, a.reason) for a in audit) == sorted(
        (row.pk, "active", "delisted", f"not in sanctions import #{second.pk}") for row in delisted
    )
    assert SanctionedAddress.objects.filter(status=ListingStatus.ACTIVE).count() == 751
    assert sanctions_match(LAZARUS_ETH) == () and sanctions_match(BTC_P2PKH) == ()
    assert [hit.entity_name for hit in sanctions_match(GARANTEX_TRX)] == ["GARANTEX EUROPE OU"]


def test_a_listing_that_comes_back_is_a_new_row(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport]
) -> None:
    first = run(xml_batch)
    second = run(without(xml_batch, lazarus_or_yan))

    with heard_signals() as heard:
        third = run(xml_batch)

    assert counts(third) == (9, 0, 751, 0)
    relisted = {
        (classify_address(canonical_address(e.address)), canonical_address(e.address))
        for e in xml_batch.entries
        if lazarus_or_yan(e)
    }
    assert heard == [{"import_id": third.pk, "added": tuple(sorted(relisted))}]
    history = sanctioned_address_history(LAZARUS_ETH.upper().replace("0X", "0x"))
    assert list(history.values_list("status", "listed_by_import", "delisted_by_import")) == [
        ("delisted", first.pk, second.pk),
        ("active", third.pk, None),
    ]
    assert [hit.import_id for hit in sanctions_match(LAZARUS_ETH)] == [third.pk]
    assert SanctionedAddress.objects.count() == 769


def test_revised_details_are_refreshed_in_place(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport]
) -> None:
    first = run(xml_batch)
    revised = replace(
        xml_batch,
        entries=tuple(
            replace(e, programs=(*e.programs, "SDGT")) if e.uid == "36025" else e for e in xml_batch.entries
        ),
    )

    second = run(revised)

    assert counts(second) == (0, 0, 748, 12)  # Garantex: 1 XBT, 7 ETH, 1 USDT, 3 TRX
    row = SanctionedAddress.objects.get(address=GARANTEX_TRX, asset="TRX")
    assert (row.programs, row.status, row.listed_by_import_id) == (
        ["CYBER4", "RUSSIA-EO14024", "SDGT"],
        ListingStatus.ACTIVE,
        first.pk,
    )
    assert [hit.programs for hit in sanctions_match(GARANTEX_TRX)] == [("CYBER4", "RUSSIA-EO14024", "SDGT")]


def test_a_per_asset_import_delists_only_its_asset(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport], tmp_path: Path
) -> None:
    run(xml_batch)
    run(paths=asset_files(".txt"))
    eth_lines = (DATA_DIR / "sanctioned_addresses_ETH.txt").read_text().splitlines()
    dropped = {canonical_address(line) for line in eth_lines[:2]}
    trimmed = tmp_path / "sanctioned_addresses_ETH.txt"
    trimmed.write_text("\n".join(eth_lines[2:]) + "\n")

    eth = run(paths=[trimmed])

    assert (counts(eth), eth.scope_assets) == ((0, 2, 75, 0), ["ETH"])
    assert eth.per_family == family_counts(evm=(0, 2, 75, 0))
    delisted = SanctionedAddress.objects.filter(status=ListingStatus.DELISTED)
    assert {(r.source, r.asset, r.address) for r in delisted} == {
        (SOURCE_ASSET_LIST, "ETH", a) for a in dropped
    }
    active = SanctionedAddress.objects.filter(status=ListingStatus.ACTIVE)
    assert active.filter(source=SOURCE_ASSET_LIST).count() == 756  # TRX, USDT (its 0x too), ... kept
    assert active.filter(source=SOURCE_OFAC_XML).count() == 760
    for address in dropped:  # still listed by the XML, which an ETH list does not speak for
        assert {(h.source, h.asset) for h in sanctions_match(address)} == {(SOURCE_OFAC_XML, "ETH")}

    # ... and the XML speaks for its own source only: it never delists per-asset listings.
    xml = run(without(xml_batch, lambda e: e.uid == LAZARUS_UID))
    assert counts(xml) == (0, 8, 752, 0)
    assert active.filter(source=SOURCE_ASSET_LIST).count() == 756


# --- failures change nothing --------------------------------------------------------------------

MINI_PARTIES = [
    ("7", "GARANTEX", [("TRX", GARANTEX_TRX), ("ETH", LAZARUS_ETH)]),
    ("8", "YAN Xiaobing", [("XBT", BTC_P2PKH)]),
]


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _checksum_line(name: str, content: str) -> str:
    return f"SHA256({name}) = {hashlib.sha256(content.encode()).hexdigest()}\n"


BROKEN: dict[str, Callable[[Path], list[Path]]] = {
    "invalid_sanctions_file": lambda d: [
        _write(d / "sdn_advanced.xml.bz2", bz2.compress(mini_xml(MINI_PARTIES).encode())[:-60])
    ],
    "sanctions_checksum_mismatch": lambda d: [
        _write(d / "sdn_advanced.xml", mini_xml(MINI_PARTIES)),
        _write(d / "sdn_advanced_checksum.txt", _checksum_line("sdn_advanced.xml", "another publication")),
    ][:1],
    "empty_sanctions_file": lambda d: [_write(d / "sanctioned_addresses_ETH.txt", "\n")],
    "mixed_sanctions_sources": lambda d: [
        _write(d / "sdn_advanced.xml", mini_xml(MINI_PARTIES)),
        DATA_DIR / "sanctioned_addresses_TRX.txt",
    ],
    "sanctions_file_not_found": lambda d: [d / "sanctioned_addresses_ETH.txt"],
    "unsupported_sanctions_file": lambda d: [_write(d / "sdn.csv", "address\n")],
}


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_a_broken_import_writes_nothing(
    code: str, run: Callable[..., SanctionsImport], tmp_path: Path
) -> None:
    run(paths=asset_files(".txt"))
    before = database_state()
    paths = BROKEN[code](tmp_path)

    with heard_signals() as heard, pytest.raises(ValidationFailed) as caught:
        run(paths=paths)

    assert caught.value.code == code
    assert database_state() == before
    assert heard == []


def test_a_failure_while_writing_rolls_the_whole_import_back(
    xml_batch: SanctionsBatch, run: Callable[..., SanctionsImport], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(paths=asset_files(".txt"))
    before = database_state()
    snapshot = holder.current()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("aml.sanctions.services.imports._delist", crash)
    with heard_signals() as heard, pytest.raises(RuntimeError):
        run(xml_batch)  # would add 760 listings, and it had inserted them when it failed

    assert database_state() == before
    assert heard == []
    assert holder.current() is snapshot


# --- the database keeps the history -------------------------------------------------------------


def _refused(sql: str, params: list[Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_postgres_keeps_imports_and_listings(run: Callable[..., SanctionsImport], tmp_path: Path) -> None:
    record = run(paths=[DATA_DIR / "sanctioned_addresses_TRX.txt"])
    listing = SanctionedAddress.objects.filter(listed_by_import=record).first()
    assert listing is not None

    _refused("DELETE FROM sanctions_sanctionedaddress WHERE id = %s", [listing.pk])
    _refused("UPDATE sanctions_sanctionedaddress SET address = 'T' WHERE id = %s", [listing.pk])
    _refused("UPDATE sanctions_sanctionedaddress SET asset = 'USDT' WHERE id = %s", [listing.pk])
    _refused("UPDATE sanctions_sanctionsimport SET added = 0 WHERE id = %s", [record.pk])
    _refused("DELETE FROM sanctions_sanctionsimport WHERE id = %s", [record.pk])
    with pytest.raises(AppendOnlyError):
        listing.delete()
    with pytest.raises(AppendOnlyError):
        SanctionedAddress.objects.all().delete()

    lines = (DATA_DIR / "sanctioned_addresses_TRX.txt").read_text().splitlines()
    trx = _write(
        tmp_path / "sanctioned_addresses_TRX.txt", "\n".join(x for x in lines if x != listing.listed_as)
    )
    trimmed = run(paths=[trx])
    assert counts(trimmed) == (0, 1, 28, 0)
    _refused("UPDATE sanctions_sanctionedaddress SET entity_name = 'x' WHERE id = %s", [listing.pk])
    _refused("UPDATE sanctions_sanctionedaddress SET status = 'active', delisted_at = NULL, "
             "delisted_by_import_id = NULL WHERE id = %s", [listing.pk])  # fmt: skip
    assert SanctionedAddress.objects.get(pk=listing.pk).status == ListingStatus.DELISTED


# --- the command --------------------------------------------------------------------------------


def test_command_imports_xml_files_verifies_the_checksum_and_records_a_trimmed_file(
    run: Callable[..., SanctionsImport],
    tmp_path: Path,
    make_staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    full = mini_xml(MINI_PARTIES)
    xml = _write(tmp_path / "sdn_advanced.xml", full)
    _write(tmp_path / "sdn_advanced_checksum.txt", _checksum_line("sdn_advanced.xml", full))
    officer = make_staff("compliance_officer")
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("sanctions_import", str(xml), "--actor", officer.username, stdout=out)

    first = SanctionsImport.objects.get()
    assert out.getvalue().splitlines()[0] == (
        f"sanctions import #{first.pk}: OFAC SDN advanced XML, published 2025-11-19, OFAC checksum verified"
    )
    assert out.getvalue().splitlines()[-1].split() == ["total", "3", "0", "0", "0"]
    assert (first.actor, first.checksum_verified, counts(first)) == (officer, True, (3, 0, 0, 0))
    assert first.actor_label.startswith("manage.py sanctions_import (os user ")

    trimmed = mini_xml(MINI_PARTIES[:1], issued=(2025, 12, 4))
    _write(xml, trimmed)
    _write(tmp_path / "sdn_advanced_checksum.txt", _checksum_line("sdn_advanced.xml", trimmed))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sanctions_import", str(xml), stdout=io.StringIO())

    second = SanctionsImport.objects.get(pk__gt=first.pk)
    assert (counts(second), second.published_on, second.actor) == ((0, 1, 2, 0), date(2025, 12, 4), None)
    assert SanctionedAddress.objects.get(status=ListingStatus.DELISTED).address == BTC_P2PKH
    assert sanctions_match(BTC_P2PKH) == ()


def test_an_older_publication_is_refused_unless_allowed(
    tmp_path: Path, run: Callable[..., SanctionsImport]
) -> None:
    xml = _write(tmp_path / "sdn_advanced.xml", mini_xml(MINI_PARTIES, issued=(2025, 12, 4)))
    newer = run(paths=[xml])
    _write(xml, mini_xml(MINI_PARTIES[:1], issued=(2025, 11, 19)))
    before = database_state()

    with pytest.raises(ValidationFailed) as caught:
        run(paths=[xml])
    assert (caught.value.code, caught.value.fields) == (
        "older_sanctions_publication",
        {"published_on": "2025-11-19", "newest_imported": "2025-12-04"},
    )
    assert database_state() == before
    with pytest.raises(CommandError, match="Use --allow-older"):
        call_command("sanctions_import", str(xml), stdout=io.StringIO())

    older = run(paths=[xml], allow_older=True)
    assert (counts(newer), counts(older)) == ((3, 0, 0, 0), (0, 1, 2, 0))
    _write(xml, mini_xml(MINI_PARTIES, issued=(2025, 12, 4)))
    assert counts(run(paths=[xml])) == (1, 0, 2, 0)  # the same publication again is fine


def test_command_summary_per_family_and_errors(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    out = io.StringIO()
    paths = [str(DATA_DIR / f"sanctioned_addresses_{asset}.json") for asset in ("USDT", "XMR")]
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sanctions_import", *paths, stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].endswith("OFAC per-asset address lists, assets USDT XMR")
    assert [line.split() for line in lines[3:]] == [
        ["family", "added", "delisted", "unchanged", "updated"],
        ["bitcoin", "7", "0", "0", "0"],
        ["evm", "8", "0", "0", "0"],
        ["other", "8", "0", "0", "0"],
        ["tron", "78", "0", "0", "0"],
        ["total", "101", "0", "0", "0"],
    ]

    with pytest.raises(CommandError, match=r"^Nothing was changed\. The sanctions file broken\.xml"):
        call_command("sanctions_import", str(_write(tmp_path / "broken.xml", "<Sanctions")), stdout=out)
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("sanctions_import", paths[0], "--actor", "nobody", stdout=out)
    assert SanctionsImport.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_imports_are_serialised() -> None:
    """Two imports at once: the second waits for the first, so it diffs against committed rows."""
    from aml.sanctions.services.imports import _LOCK_KEY

    trx = DATA_DIR / "sanctioned_addresses_TRX.txt"
    results: list[tuple[int, int, int, int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(counts(sanctions_import_run(paths=[trx])))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])  # as if an import were running
    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    assert results == [] and all(worker.is_alive() for worker in workers)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    for worker in workers:
        worker.join(timeout=30)

    assert errors == []
    assert sorted(results) == [(0, 0, 29, 0), (29, 0, 0, 0)]
    assert SanctionedAddress.objects.filter(status=ListingStatus.ACTIVE).count() == 29
