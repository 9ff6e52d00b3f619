"""Matching against the imported listings: identity per address family, and the in-process snapshot.

Listings come from the real per-asset files (fast to import). The snapshot's clock is replaced by
a counter the test moves, so "at most every N seconds" is checked without sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aml.sanctions.models import DenyListEntry, SanctionsImport
from aml.sanctions.parsers import SOURCE_ASSET_LIST
from aml.sanctions.selectors import denylist_match, sanctions_match
from aml.sanctions.services import denylist_add, denylist_remove, sanctions_import_run
from aml.sanctions.snapshot import VERSION_SQL, SnapshotHolder, holder
from nexora.common.errors import ValidationFailed
from tests.aml.sanctions_support import BTC_BECH32, BTC_P2PKH, DATA_DIR, GARANTEX_TRX, LAZARUS_ETH

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

USDT_ONLY_TRON = "TA3941uFAvmVibSkQ6fMJXxmaSNovX86mz"  # on the USDT list, not on the TRX list
USDT_ONLY_EVM = "0x175d44451403Edf28469dF03A9280c1197ADb92c"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    settings.NEXORA_SANCTIONS_RECHECK_SECONDS = 5.0
    fake = Clock()
    monkeypatch.setattr(holder, "clock", fake)
    holder.reset()
    yield fake
    holder.reset()


def import_lists(capture: Any, *assets: str, execute: bool = True) -> SanctionsImport:
    with capture(execute=execute):
        return sanctions_import_run(paths=[DATA_DIR / f"sanctioned_addresses_{a}.txt" for a in assets])


@pytest.fixture
def listed(django_capture_on_commit_callbacks: Any) -> SanctionsImport:
    return import_lists(django_capture_on_commit_callbacks, "ETH", "TRX", "XBT")


# --- identity per family ------------------------------------------------------------------------


def test_evm_addresses_match_in_any_case(listed: SanctionsImport) -> None:
    expected = [("OFAC SDN", "ETH", "evm", LAZARUS_ETH.lower(), SOURCE_ASSET_LIST, listed.pk)]
    for spelling in (LAZARUS_ETH, LAZARUS_ETH.lower(), "0x" + LAZARUS_ETH[2:].upper(), f" {LAZARUS_ETH}\n"):
        hits = sanctions_match(spelling)
        assert [(h.list_name, h.asset, h.family, h.address, h.source, h.import_id) for h in hits] == expected


def test_tron_and_base58_bitcoin_match_only_exactly(listed: SanctionsImport) -> None:
    assert [(h.asset, h.family) for h in sanctions_match(GARANTEX_TRX)] == [("TRX", "tron")]
    assert [(h.asset, h.family) for h in sanctions_match(BTC_P2PKH)] == [("XBT", "bitcoin")]
    for address in (GARANTEX_TRX, BTC_P2PKH):
        for other_case in (address.lower(), address.upper(), address.swapcase()):
            assert sanctions_match(other_case) == ()


def test_bech32_is_lower_cased_and_mixed_case_is_refused(listed: SanctionsImport) -> None:
    assert [h.asset for h in sanctions_match(BTC_BECH32.upper())] == ["XBT"]
    assert sanctions_match(BTC_BECH32.upper()) == sanctions_match(BTC_BECH32)
    with pytest.raises(ValidationFailed) as caught:
        sanctions_match(BTC_BECH32[:10] + BTC_BECH32[10:].upper())
    assert caught.value.code == "invalid_address"


def test_unlisted_and_bad_input(listed: SanctionsImport) -> None:
    assert sanctions_match("0x" + "0" * 40) == ()
    assert sanctions_match(USDT_ONLY_TRON) == ()
    for bad in ("", "   ", "0xabc 0xdef"):
        with pytest.raises(ValidationFailed) as caught:
            sanctions_match(bad)
        assert caught.value.code == "invalid_address"


def test_the_usdt_list_is_split_by_format(django_capture_on_commit_callbacks: Any) -> None:
    import_lists(django_capture_on_commit_callbacks, "USDT")
    assert [(h.asset, h.family) for h in sanctions_match(USDT_ONLY_TRON)] == [("USDT", "tron")]
    assert [(h.asset, h.family) for h in sanctions_match(USDT_ONLY_EVM.upper().replace("0X", "0x"))] == [
        ("USDT", "evm")
    ]
    assert sanctions_match(USDT_ONLY_TRON.lower()) == ()


# --- the snapshot -------------------------------------------------------------------------------


def test_matching_does_not_query_between_rechecks(
    listed: SanctionsImport, clock: Clock, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(3):  # first use: version, listings, deny list
        sanctions_match(LAZARUS_ETH)
    with django_assert_num_queries(0):
        for _ in range(100):
            sanctions_match(LAZARUS_ETH)
            denylist_match(GARANTEX_TRX)
    clock.now += 4.9
    with django_assert_num_queries(0):
        sanctions_match(GARANTEX_TRX)
    clock.now += 0.1
    with django_assert_num_queries(1):  # the version only: nothing changed, nothing reloaded
        sanctions_match(GARANTEX_TRX)
        sanctions_match(BTC_P2PKH)


def test_the_snapshot_reloads_after_a_new_import(
    listed: SanctionsImport,
    clock: Clock,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
) -> None:
    elsewhere = SnapshotHolder(clock=clock)  # another process: this one's imports do not reach it
    assert elsewhere.current().sanctions.get(USDT_ONLY_TRON) is None
    assert sanctions_match(USDT_ONLY_TRON) == ()

    usdt = import_lists(django_capture_on_commit_callbacks, "USDT", execute=False)  # not committed yet

    # This process re-checks at once, so the importing thread sees its own change ...
    assert [(h.asset, h.import_id) for h in sanctions_match(USDT_ONLY_TRON)] == [("USDT", usdt.pk)]
    # ... another process sees it at its next re-check, within the interval.
    assert elsewhere.current().sanctions.get(USDT_ONLY_TRON) is None
    clock.now += 5
    with django_assert_num_queries(3):  # version changed: reload listings and deny list
        hits = elsewhere.current().sanctions[USDT_ONLY_TRON]
    assert [(h.asset, h.import_id) for h in hits] == [("USDT", usdt.pk)]


def test_an_unchanged_version_keeps_the_snapshot(listed: SanctionsImport, clock: Clock) -> None:
    before = holder.current()
    holder.invalidate()
    assert holder.current() is before  # re-checked, same version: not reloaded
    clock.now += 60
    assert holder.current() is before


def test_a_reload_in_progress_does_not_block_other_threads(listed: SanctionsImport) -> None:
    before = holder.current()
    holder.invalidate()
    seen: list[Any] = []
    with holder._lock:  # another thread is re-checking
        worker = threading.Thread(target=lambda: seen.append(holder.current()))
        worker.start()
        worker.join(timeout=5)
    assert seen == [before]


def test_the_version_query_reads_the_models_tables() -> None:
    assert f"FROM {SanctionsImport._meta.db_table})" in VERSION_SQL
    assert VERSION_SQL.count(f"FROM {DenyListEntry._meta.db_table})") == 3


def test_the_snapshot_reloads_after_a_deny_list_change_elsewhere(clock: Clock, make_staff: Any) -> None:
    officer = make_staff("compliance_officer")
    elsewhere = SnapshotHolder(clock=clock)
    address = LAZARUS_ETH.lower()
    assert elsewhere.current().deny.get(address) is None

    entry = denylist_add(address=LAZARUS_ETH, reason="Fraud ring", actor=officer)
    assert denylist_match(LAZARUS_ETH).entry_id == entry.pk  # type: ignore[union-attr]
    assert elsewhere.current().deny.get(address) is None
    clock.now += 5
    assert elsewhere.current().deny[address].entry_id == entry.pk

    denylist_remove(address=LAZARUS_ETH, reason="Cleared", actor=officer)  # same max id, same count
    assert denylist_match(LAZARUS_ETH) is None
    assert elsewhere.current().deny.get(address) is not None
    clock.now += 5
    assert elsewhere.current().deny.get(address) is None
