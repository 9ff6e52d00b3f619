"""The operator's deny list: staff-only add and soft removal, both audited; matching per family."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from aml.sanctions.models import DenyListEntry, DenyListStatus
from aml.sanctions.selectors import denylist_active, denylist_match
from aml.sanctions.services import denylist_add, denylist_remove, denylist_transition
from aml.sanctions.snapshot import holder
from nexora.accounts.models import ClientProfile, User
from nexora.common.errors import Conflict, NexoraError, NotFound, PermissionDenied, ValidationFailed
from nexora.common.models import AppendOnlyError, StatusChange
from tests.aml.sanctions_support import BTC_BECH32, GARANTEX_TRX, LAZARUS_ETH

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def fresh_snapshot() -> Iterator[None]:
    holder.reset()
    yield
    holder.reset()


@pytest.fixture
def officer(make_staff: Callable[[str], User]) -> User:
    return make_staff("compliance_officer")


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Run a service as a committed request would: its on-commit work (snapshot) runs too."""

    def call(service: Callable[..., Any], **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return call


def state() -> tuple[list[Any], int]:
    return list(DenyListEntry.objects.order_by("pk").values()), StatusChange.objects.count()


def test_add_records_who_when_why_and_matches_per_family(
    officer: User, committed: Callable[..., Any]
) -> None:
    assert denylist_match(LAZARUS_ETH) is None  # loads an empty snapshot first

    entry = committed(
        denylist_add, address=f" {LAZARUS_ETH} ", reason="  Chargeback fraud ring  ", actor=officer
    )

    assert (entry.family, entry.address, entry.listed_as, entry.reason) == (
        "evm",
        LAZARUS_ETH.lower(),
        LAZARUS_ETH,
        "Chargeback fraud ring",
    )
    assert (entry.status, entry.added_by, entry.removed_by, entry.removed_at) == (
        "active",
        officer,
        None,
        None,
    )
    assert entry.added_at is not None
    for spelling in (LAZARUS_ETH, LAZARUS_ETH.lower(), LAZARUS_ETH.upper().replace("0X", "0x")):
        hit = denylist_match(spelling)
        assert hit is not None
        assert (hit.entry_id, hit.family, hit.address, hit.reason) == (
            entry.pk,
            "evm",
            entry.address,
            entry.reason,
        )

    tron = committed(denylist_add, address=GARANTEX_TRX, reason="Operator decision", actor=officer)
    assert (tron.family, denylist_match(GARANTEX_TRX).entry_id) == ("tron", tron.pk)  # type: ignore[union-attr]
    assert denylist_match(GARANTEX_TRX.lower()) is None  # base58: exact
    bech32 = committed(denylist_add, address=BTC_BECH32.upper(), reason="Operator decision", actor=officer)
    assert (bech32.family, bech32.address) == ("bitcoin", BTC_BECH32)
    assert list(denylist_active()) == [bech32, tron, entry]
    assert not StatusChange.objects.exists()  # creating an entry is not a transition


def test_remove_is_soft_and_audited_and_readding_opens_a_new_entry(
    officer: User, make_staff: Callable[[str], User], committed: Callable[..., Any]
) -> None:
    lead = make_staff("compliance_lead")
    entry = committed(denylist_add, address=LAZARUS_ETH, reason="Fraud ring", actor=officer)
    assert denylist_match(LAZARUS_ETH) is not None

    removed = committed(denylist_remove, address=LAZARUS_ETH.lower(), reason="Cleared by review", actor=lead)

    assert removed.pk == entry.pk
    row = DenyListEntry.objects.get(pk=entry.pk)
    assert (row.status, row.removed_by, row.removal_reason, row.reason) == (
        "removed",
        lead,
        "Cleared by review",
        "Fraud ring",
    )
    assert row.removed_at is not None and row.removed_at >= row.added_at
    (audit,) = StatusChange.objects.all()
    assert (audit.entity, audit.entity_id, audit.from_status, audit.to_status, audit.actor, audit.reason) == (
        "denylist_entry",
        str(entry.pk),
        "active",
        "removed",
        lead,
        "Cleared by review",
    )
    assert denylist_match(LAZARUS_ETH) is None

    with pytest.raises(NotFound) as caught:
        denylist_remove(address=LAZARUS_ETH, reason="again", actor=lead)
    assert (caught.value.code, caught.value.status) == ("not_denylisted", 404)

    again = committed(denylist_add, address=LAZARUS_ETH, reason="Seen again", actor=lead)
    assert again.pk != entry.pk
    assert denylist_match(LAZARUS_ETH).entry_id == again.pk  # type: ignore[union-attr]
    assert list(DenyListEntry.objects.order_by("pk").values_list("status", flat=True)) == [
        "removed",
        "active",
    ]


def test_adding_an_address_twice_is_a_conflict_and_writes_nothing(officer: User) -> None:
    denylist_add(address=LAZARUS_ETH, reason="Fraud ring", actor=officer)
    before = state()
    with pytest.raises(Conflict) as caught:
        denylist_add(address=LAZARUS_ETH.lower(), reason="duplicate", actor=officer)
    assert (caught.value.code, caught.value.status) == ("already_denylisted", 409)
    assert state() == before


@pytest.mark.parametrize("who", ["anonymous", "client", "support", "non_staff_with_permission"])
def test_only_compliance_staff_may_change_the_list(
    who: str, officer: User, make_staff: Callable[[str], User], client_profile: ClientProfile
) -> None:
    from django.contrib.auth.models import AnonymousUser, Permission

    denylist_add(address=GARANTEX_TRX, reason="Fraud ring", actor=officer)
    if who == "anonymous":
        actor: Any = AnonymousUser()
    elif who == "client":
        actor = client_profile.user
    elif who == "support":
        actor = make_staff("support")
    else:
        actor = User.objects.create_user(username="not-staff", password="pw")
        actor.user_permissions.add(Permission.objects.get(codename="manage_denylist"))
    before = state()
    for call in (
        lambda: denylist_add(address=LAZARUS_ETH, reason="r", actor=actor),
        lambda: denylist_remove(address=GARANTEX_TRX, reason="r", actor=actor),
    ):
        with pytest.raises(PermissionDenied) as caught:
            call()
        assert (caught.value.code, caught.value.status) == ("permission_denied", 403)
    assert state() == before


@pytest.mark.parametrize(
    ("address", "reason", "code"),
    [
        ("", "Fraud ring", "invalid_address"),
        ("0xabc 0xdef", "Fraud ring", "invalid_address"),
        (BTC_BECH32[:10] + BTC_BECH32[10:].upper(), "Fraud ring", "invalid_address"),
        (LAZARUS_ETH, "   ", "reason_required"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(officer: User, address: str, reason: str, code: str) -> None:
    before = state()
    for service in (denylist_add, denylist_remove):
        with pytest.raises(ValidationFailed) as caught:
            service(address=address, reason=reason, actor=officer)
        assert (caught.value.code, caught.value.status) == (code, 400)
    assert state() == before


def test_a_lost_removal_race_is_stale_and_writes_nothing(officer: User) -> None:
    entry = denylist_add(address=LAZARUS_ETH, reason="Fraud ring", actor=officer)
    stale = DenyListEntry.objects.get(pk=entry.pk)
    denylist_remove(address=LAZARUS_ETH, reason="first", actor=officer)
    before = state()
    with pytest.raises(NexoraError) as caught:
        denylist_transition(stale, to=DenyListStatus.REMOVED, actor=officer, reason="second")
    assert (caught.value.code, caught.value.status) == ("stale_state", 409)
    assert state() == before


def test_postgres_keeps_the_history(officer: User) -> None:
    entry = denylist_add(address=LAZARUS_ETH, reason="Fraud ring", actor=officer)

    def refused(sql: str) -> None:
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])

    refused("DELETE FROM sanctions_denylistentry WHERE id = %s")
    refused("UPDATE sanctions_denylistentry SET reason = 'edited' WHERE id = %s")
    refused("UPDATE sanctions_denylistentry SET address = '0x0' WHERE id = %s")
    with pytest.raises(AppendOnlyError):
        entry.delete()
    denylist_remove(address=LAZARUS_ETH, reason="Cleared", actor=officer)
    refused("UPDATE sanctions_denylistentry SET removal_reason = 'edited' WHERE id = %s")
    refused(
        "UPDATE sanctions_denylistentry SET status = 'active', removed_at = NULL, removed_by_id = NULL "
        "WHERE id = %s"
    )
    assert DenyListEntry.objects.get(pk=entry.pk).removal_reason == "Cleared"


def test_the_admin_shows_the_list_read_only(
    officer: User, client: Any, make_staff: Callable[[str], User]
) -> None:
    entry = denylist_add(address=LAZARUS_ETH, reason="Fraud ring", actor=officer)
    client.force_login(officer)
    assert client.get("/admin/sanctions/denylistentry/").status_code == 200
    page = client.get(f"/admin/sanctions/denylistentry/{entry.pk}/change/")
    assert page.status_code == 200 and b"Fraud ring" in page.content and b'name="_save"' not in page.content
    assert client.get("/admin/sanctions/denylistentry/add/").status_code == 403
    assert (
        client.post(f"/admin/sanctions/denylistentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert client.get("/admin/sanctions/sanctionedaddress/").status_code == 200
    assert client.get("/admin/sanctions/sanctionsimport/").status_code == 200
    client.force_login(make_staff("support"))
    assert client.get("/admin/sanctions/denylistentry/").status_code == 403
    assert DenyListEntry.objects.filter(pk=entry.pk, status="active").exists()


def test_the_command_adds_lists_and_removes(officer: User, make_staff: Callable[[str], User]) -> None:
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command(
        "denylist", "add", LAZARUS_ETH, "--reason", "Fraud ring", "--actor", officer.username, stdout=out
    )
    entry = DenyListEntry.objects.get()
    assert out.getvalue() == f"{LAZARUS_ETH.lower()} (evm): active, entry #{entry.pk}\n"
    out = io.StringIO()
    call_command("denylist", "list", stdout=out)
    assert out.getvalue().split("\t")[::3] == [LAZARUS_ETH.lower(), "Fraud ring\n"]

    support = make_staff("support")
    with pytest.raises(CommandError, match=r"^Nothing was changed\. Only compliance staff"):
        call_command("denylist", "remove", LAZARUS_ETH, "--reason", "r", "--actor", support.username)
    call_command(
        "denylist", "remove", LAZARUS_ETH, "--reason", "Cleared", "--actor", officer.username, stdout=out
    )
    assert DenyListEntry.objects.get().status == "removed"
