"""Look-alike tokens on a real EVM node (anvil): a second "USDT" contract pays a deposit address; the
scanner records the transfer for staff (exact fields, once however often the range is read), never
as a deposit and never in the ledger; the selector and the read-only admin show it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import Deposit, LedgerTransaction, LookalikeTransfer, Network
from payments.selectors.lookalikes import lookalike_contracts, lookalike_transfers
from payments.services.topups import topup_create
from payments.tasks import scan_network
from tests.chain.anvil import Anvil
from tests.chain.conftest import token_deploy

pytestmark = [pytest.mark.anvil, pytest.mark.django_db]
ONE_USDT = 10**6


@pytest.fixture
def tokens(chain: Anvil) -> dict[str, str]:
    return {name: token_deploy(chain, artifact, mint=10_000 * ONE_USDT)
            for name, artifact in (("usdt", "TetherToken"), ("fake", "FakeUSDT"))}  # fmt: skip


@pytest.fixture
def network(chain: Anvil, tokens: dict[str, str], make_network) -> Network:
    overrides = {"chain_id": 31337, "node_urls": [chain.url], "confirmations": 2, "options": {"backoff_s": 0}}
    network = make_network("usdt-erc20@usdt-anvil", token_contract=tokens["usdt"], **overrides)
    scan_network.delay(network.pk)  # the cursor starts before any payment
    return network


def test_a_look_alike_transfer_is_recorded_once_and_never_credited(chain, tokens, network, make_client):
    client = make_client()
    topup = topup_create(client=client, network_code=network.code, amount="50").topup
    holder = chain.accounts[1]
    fake_tx = chain.token_transfer(tokens["fake"], topup.address.address, 500 * ONE_USDT, sender=holder)
    receipt = chain.receipt(fake_tx)
    chain.mine(3)

    for _ in range(3):  # the range, the re-read tail, another pass: one row
        scan_network.delay(network.pk)

    row = LookalikeTransfer.objects.get()
    (log,) = receipt["logs"]
    assert (row.network_id, row.tx_hash, row.index, row.contract, row.address_id, row.sender) == (
        network.pk, fake_tx, log["logIndex"], tokens["fake"], topup.address.pk, holder)  # fmt: skip
    assert row.amount == 500 * ONE_USDT
    assert (row.block_height, row.block_hash) == (receipt["blockNumber"], receipt["blockHash"].to_0x_hex())
    assert not Deposit.objects.exists()
    assert not LedgerTransaction.objects.filter(idempotency_key__startswith="deposit:").exists()
    assert list(lookalike_transfers(client=client)) == [row]
    assert list(lookalike_transfers(network_code="other")) == []
    assert lookalike_contracts() == [{
        "network": network.code, "contract": tokens["fake"], "transfers": 1, "addresses": 1,
        "first_seen": row.created_at, "last_seen": row.created_at,
    }]  # fmt: skip


def test_the_admin_shows_look_alikes_read_only(chain, tokens, network, make_client, make_staff, client):
    topup = topup_create(client=make_client(), network_code=network.code, amount="50").topup
    chain.receipt(chain.token_transfer(tokens["fake"], topup.address.address, 7, sender=chain.accounts[1]))
    scan_network.delay(network.pk)
    row = LookalikeTransfer.objects.get()
    client.force_login(make_staff("admin"))

    changelist = client.get(reverse("admin:payments_lookaliketransfer_changelist"))
    assert changelist.status_code == 200 and row.tx_hash in changelist.content.decode()
    assert client.get(reverse("admin:payments_lookaliketransfer_change", args=[row.pk])).status_code == 200
    assert client.get(reverse("admin:payments_lookaliketransfer_add")).status_code == 403
    deleted = client.post(reverse("admin:payments_lookaliketransfer_delete", args=[row.pk]), {"post": "yes"})
    assert deleted.status_code == 403 and LookalikeTransfer.objects.count() == 1
