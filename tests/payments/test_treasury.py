"""The treasury's side of refunds: the page, the CSV (view and command), recording the hash, the tasks."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from payments.models import PayoutRequest
from payments.payout_export import COLUMNS, payouts_csv_write
from payments.services.payouts import payout_approve, payout_request
from payments.tasks import payout_check, payouts_verify_due
from tests.review_helpers import SENDER, held_deposit

pytestmark = pytest.mark.django_db
TX = "0x" + "ab" * 32


@pytest.fixture
def world(make_network, make_client, make_staff):
    network, client = make_network("usdt-erc20"), make_client()
    deposit, chain = held_deposit(client, network)
    assert deposit.hold is not None
    officer, lead, treasury = (
        make_staff("compliance_officer"),
        make_staff("compliance_lead"),
        make_staff("treasury"),
    )
    payout = payout_request(
        client=client,
        hold=deposit.hold,
        amount="50.00",
        destination=SENDER,
        network=network,
        reason="refund to source",
        actor=officer,
        reference='=HYPERLINK("x")',
    )
    payout = payout_approve(payout=payout, actor=lead)
    web = Client()
    web.force_login(treasury)
    return SimpleNamespace(
        network=network, client=client, chain=chain, payout=payout, lead=lead, treasury=treasury, web=web
    )


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def expected_row(world):
    p = world.payout
    return [
        str(p.public_id),
        '\'=HYPERLINK("x")',
        "usdt-erc20",
        "evm",
        "1",
        "USDT",
        "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        SENDER,
        "50000000",
        "50",
        "50.00",
        "USD",
        world.lead.username,
        p.approved_at.isoformat(),
    ]


def test_csv_has_exact_rows_and_defuses_formulas(world):
    out = io.StringIO()
    assert payouts_csv_write(out, PayoutRequest.objects.filter(status="approved")) == 1
    assert rows(out.getvalue()) == [list(COLUMNS), expected_row(world)]


def test_csv_download_and_command(world, tmp_path):
    response = world.web.get("/treasury/payouts.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="refunds-')
    assert response["Cache-Control"] == "no-store"
    assert rows(response.content.decode()) == [list(COLUMNS), expected_row(world)]
    out, err = io.StringIO(), io.StringIO()
    call_command("payouts_export", stdout=out, stderr=err)
    assert rows(out.getvalue()) == [list(COLUMNS), expected_row(world)]
    assert err.getvalue().strip() == "1 refund(s) to send"
    target = tmp_path / "refunds.csv"
    call_command("payouts_export", "--output", str(target), stderr=io.StringIO())
    assert rows(target.read_text(encoding="utf-8")) == [list(COLUMNS), expected_row(world)]


def test_page_lists_and_records_the_hash(world):
    page = world.web.get("/treasury/payouts/").content.decode()
    assert str(world.payout.public_id) in page and SENDER in page and "50000000" in page
    url = f"/treasury/payouts/{world.payout.public_id}/sent/"
    response = world.web.post(url, {"tx_hash": "nonsense"})
    assert response.status_code == 400
    assert "This is not a valid transaction hash for this network." in response.content.decode()
    assert PayoutRequest.objects.get().status == "approved"
    response = world.web.post(url, {"tx_hash": TX})
    assert response.status_code == 302 and response["Location"] == "/treasury/payouts/"
    payout = PayoutRequest.objects.get()
    assert (payout.status, payout.tx_hash, payout.sent_by) == ("sent", TX, world.treasury)
    page = world.web.get("/treasury/payouts/").content.decode()
    assert "Recorded. The transaction is being verified on the blockchain." in page and TX in page
    assert world.web.post(f"/treasury/payouts/{payout.public_id}/sent/", {"tx_hash": TX}).status_code == 302
    assert (
        world.web.post("/treasury/payouts/00000000-0000-0000-0000-000000000000/sent/", {}).status_code == 404
    )


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("support", 403),
        ("compliance_officer", 403),
        ("compliance_lead", 403),
        ("treasury", 200),
        ("admin", 200),
    ],
)
def test_only_the_treasury_and_admins_see_the_page(world, make_staff, make_client, role, status):
    web = Client()
    web.force_login(make_staff(role))
    assert web.get("/treasury/payouts/").status_code == status
    assert web.get("/treasury/payouts.csv").status_code == status
    client_web = Client()
    client_web.force_login(make_client().user)
    assert client_web.get("/treasury/payouts/").status_code == 403
    assert Client().get("/treasury/payouts/").status_code == 302


def test_csrf_on_the_hash_form(world):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.treasury)
    assert (
        strict.post(f"/treasury/payouts/{world.payout.public_id}/sent/", {"tx_hash": TX}).status_code == 403
    )
    assert PayoutRequest.objects.get().status == "approved"


def test_payout_sent_command(world):
    with pytest.raises(CommandError, match="permission_denied"):
        call_command("payout_sent", str(world.payout.public_id), TX, "--user", world.lead.username)
    with pytest.raises(CommandError, match="not_found"):
        call_command("payout_sent", "nope", TX, "--user", world.treasury.username)
    with pytest.raises(CommandError, match="no user"):
        call_command("payout_sent", str(world.payout.public_id), TX, "--user", "ghost")
    out = io.StringIO()
    call_command(
        "payout_sent", str(world.payout.public_id), TX, "--user", world.treasury.username, stdout=out
    )
    assert out.getvalue().strip() == f"payout {world.payout.public_id}: sent {TX}"


def test_verify_due_queues_sent_refunds_and_the_task_confirms(world, monkeypatch):
    from payments.services.payouts import payout_mark_sent

    assert payouts_verify_due.delay().get() == []  # approved, not sent: nothing to check
    transfer = world.chain.pay(
        SENDER, world.payout.units, sender="0x000000000000000000000000000000000000dEaD"
    )
    world.chain.mine(3)
    payout_mark_sent(payout=world.payout, actor=world.treasury, tx_hash=transfer.tx_hash)
    monkeypatch.setattr("payments.services.payouts._default_adapter", lambda network: world.chain)
    assert payouts_verify_due.delay().get() == [world.payout.pk]
    assert PayoutRequest.objects.get().status == "confirmed"
    assert payouts_verify_due.delay().get() == []
    assert payout_check.delay(world.payout.pk).get() == "confirmed"


def test_a_node_that_is_down_leaves_the_refund_sent_and_the_task_retries(world):
    from celery.exceptions import Retry

    from payments.services.payouts import payout_mark_sent

    world.network.node_urls = ["http://127.0.0.1:9"]  # nothing listens there
    world.network.options = {"backoff_s": 0}
    world.network.save()
    payout_mark_sent(payout=world.payout, actor=world.treasury, tx_hash=TX)
    with pytest.raises(Retry, match=r"Retry in 15s: ChainError"):  # eager: the retry request surfaces here
        payout_check.delay(world.payout.pk).get()
    payout = PayoutRequest.objects.get()
    assert (payout.status, payout.verify_attempts, payout.last_checked_at) == ("sent", 0, None)
