"""The scanner's in-memory watched-address set: incremental refresh, margin, full reload, reset."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from django.db.models import Max

from nexora.accounts.models import ClientProfile
from payments.addresses import evm_checksum
from payments.models import DepositAddress, Network
from payments.selectors import watched
from payments.selectors.watched import MARGIN, WatchedAddresses, watched_addresses

pytestmark = pytest.mark.django_db
_seed = count(1)


def evm_address() -> str:
    return evm_checksum(next(_seed).to_bytes(20, "big"))


@pytest.fixture
def issue(
    make_network: Callable[..., Network], make_client: Callable[..., ClientProfile]
) -> Callable[..., str]:
    """Issue a DepositAddress row directly (optionally with a chosen id): what ``address_issue`` commits."""
    network, client = make_network("usdt-erc20"), make_client()

    def make(*, pk: int | None = None, family: str = "evm", address: str | None = None) -> str:
        value = address or evm_address()
        DepositAddress.objects.create(
            pk=pk, family=family, address=value, key_fingerprint="test", index=next(_seed),
            network=network, client=client,
        )  # fmt: skip
        return value

    return make


def top_id() -> int:
    return int(DepositAddress.objects.aggregate(top=Max("pk"))["top"])


def test_a_new_address_is_in_the_next_set_and_nothing_new_returns_the_same_snapshot(
    issue: Callable[..., str], django_assert_num_queries: Any
) -> None:
    first = issue()
    before = watched_addresses("evm")
    assert before == {first}
    second = issue()

    with django_assert_num_queries(1):  # one indexed read of the ids above the margin
        after = watched_addresses("evm")

    assert after == {first, second}
    assert before == {first}  # a pass that holds the old snapshot keeps it unchanged
    assert after.lowered == {first[2:].lower(), second[2:].lower()}
    assert watched_addresses("evm") is after


def test_an_address_committed_late_inside_the_margin_is_picked_up(issue: Callable[..., str]) -> None:
    issue()
    issue(pk=top_id() + 50)  # a higher id became visible first
    assert len(watched_addresses("evm")) == 2
    late = issue(pk=top_id() - 10)  # an id allocated earlier commits now

    assert late in watched_addresses("evm")


def test_an_address_behind_the_margin_waits_for_the_periodic_full_reload(
    issue: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issue()
    issue(pk=top_id() + MARGIN + 100)
    watched_addresses("evm")
    straggler = issue(pk=top_id() - MARGIN - 50)

    assert straggler not in watched_addresses("evm")
    monkeypatch.setattr(watched, "FULL_RELOAD_S", 0.0)
    assert straggler in watched_addresses("evm")


def test_a_table_that_lost_the_high_water_row_is_reloaded_in_full(issue: Callable[..., str]) -> None:
    kept, gone = issue(), issue()
    assert watched_addresses("evm") == {kept, gone}
    DepositAddress.objects.filter(address=gone).delete()  # another database: a restore, a fresh copy

    assert watched_addresses("evm") == {kept}


def test_families_are_apart_and_only_evm_carries_lowered_hex(issue: Callable[..., str]) -> None:
    evm = issue()
    tron = issue(family="tron", address="TJRabPrwbZy45sbavfcjinPJC18kjpRTv8")

    evm_set, tron_set = watched_addresses("evm"), watched_addresses("tron")

    assert (evm_set, tron_set) == ({evm}, {tron})
    assert isinstance(evm_set, WatchedAddresses)
    assert (evm_set.lowered, tron_set.lowered) == ({evm[2:].lower()}, None)
