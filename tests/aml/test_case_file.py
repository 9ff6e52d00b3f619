"""The case file's data: everything about a worked case, JSON as is, money as exact strings."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from aml.cases.documents import document_request_create, document_upload, statement_submit
from aml.cases.export import FORMAT, case_file
from aml.cases.services import case_transition
from payments.services.payouts import payout_approve, payout_mark_sent, payout_request, payout_verify
from tests.review_helpers import SENDER, held_deposit, review_case

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.7\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_a_worked_case_file(make_network, make_client, make_staff):
    network, client = make_network("usdt-erc20"), make_client()
    officer, lead, treasury = (
        make_staff("compliance_officer"),
        make_staff("compliance_lead"),
        make_staff("treasury"),
    )
    deposit, chain = held_deposit(client, network)
    assert deposit.hold is not None
    case = review_case(client, deposit)
    request = document_request_create(
        case=case,
        actor=officer,
        items=["source_of_funds"],
        due_on=timezone.localdate() + timedelta(days=5),
        comment="ask",
    )
    upload = SimpleUploadedFile("proof.pdf", PDF, content_type="application/pdf")
    document = document_upload(request=request, client=client, file=upload)
    statement_submit(client=client, text="Sale of my car.", kind="contest")
    payout = payout_request(
        client=client,
        hold=deposit.hold,
        amount="20.00",
        destination=SENDER,
        network=network,
        reason="partial refund",
        actor=officer,
        reference=f"case:{case.pk}",
    )
    payout_approve(payout=payout, actor=lead)
    transfer = chain.pay(SENDER, payout.units, sender="0x000000000000000000000000000000000000dEaD")
    chain.mine(3)
    payout_verify(
        payout=payout_mark_sent(payout=payout, actor=treasury, tx_hash=transfer.tx_hash), adapter=chain
    )
    case_transition(
        case, to="closed", actor=lead, reason="refunded 20, released nothing yet", resolution="refunded"
    )

    data = json.loads(json.dumps(case_file(case=case)))  # plain JSON, no default= needed

    assert data["format"] == FORMAT
    assert data["case"]["status"] == "closed" and data["case"]["resolution"] == "refunded"
    assert data["client"]["balance"] == {"available": "0.00", "held": "30.00"}
    by_type = {a["subject_type"]: a for a in data["assessments"]}
    assert sorted(by_type) == ["deposit", "payout"]  # the engine screened the refund too (it joined the case)
    payout_hits = [o["rule"] for o in by_type["payout"]["outcomes"] if o["outcome"] == "hit"]
    assert (by_type["payout"]["decision"], payout_hits) == ("review", ["rapid_in_out"])
    assessment = by_type["deposit"]
    assert (assessment["decision"], assessment["score"], assessment["amount"]) == ("review", 70, "50.00")
    assert assessment["outcomes"] == [
        {
            "rule": "first_deposit_size",
            "outcome": "hit",
            "points": 70,
            "snoozed": False,
            "reason": "First deposit of 50.00 USD is above the 40.00 USD threshold.",
            "data": {"amount": "50.00", "threshold": "40.00"},
        }
    ]
    (dep,) = data["deposits"]
    assert (dep["units"], dep["asset_amount"], dep["credited_amount"], dep["sender"]) == (
        "50000000",
        "50",
        "50.00",
        SENDER,
    )
    (hold,) = data["holds"]
    assert (hold["amount"], hold["remaining"], hold["status"]) == ("50.00", "30.00", "active")
    (refund,) = data["payouts"]
    assert (refund["status"], refund["amount"], refund["units"], refund["delivered_units"]) == (
        "confirmed",
        "20.00",
        "20000000",
        "20000000",
    )
    assert (refund["requested_by"], refund["approved_by"], refund["sent_by"]) == (
        officer.username,
        lead.username,
        treasury.username,
    )
    assert [(h["from"], h["to"], h["actor"]) for h in refund["history"]] == [
        ("requested", "approved", lead.username),
        ("approved", "sent", treasury.username),
        ("sent", "confirmed", ""),
    ]
    movements = [
        (m["kind"], [(e["account"].split(":")[0], e["amount"]) for e in m["entries"]])
        for m in data["money_movements"]
    ]
    client_acc = f"client#{client.pk}"
    assert movements == [
        ("topup", [("deposits_clearing", "-50.00"), (client_acc, "50.00")]),
        ("capture", [(client_acc, "-20.00"), ("refunds_clearing", "20.00")]),
        ("refund", [("refunds_clearing", "-20.00"), ("payouts_settled", "20.00")]),
    ]
    actions = [e["action"] for e in data["events"]]
    assert actions == [
        "opened",
        "assessment_added",
        "documents_requested",
        "status",
        "document_uploaded",
        "documents_received",
        "status",
        "client_contest",
        "assessment_added",  # the refund request, screened by the engine
        "status",
    ]
    assert data["events"][2]["actor"] == officer.username and data["events"][2]["comment"] == "ask"
    assert data["document_requests"][0]["status"] == "fulfilled"
    assert data["documents"] == [
        {
            "id": str(document.public_id),
            "request": str(request.public_id),
            "item": "source_of_funds",
            "name": "proof.pdf",
            "content_type": "application/pdf",
            "size": len(PDF),
            "sha256": hashlib.sha256(PDF).hexdigest(),
            "uploaded_by": client.user.username,
            "uploaded_at": document.created_at.isoformat(),
        }
    ]
    assert [(s["kind"], s["text"]) for s in data["statements"]] == [("contest", "Sale of my car.")]
