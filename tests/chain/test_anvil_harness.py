"""Checks that the anvil harness and the committed test contracts behave as the scanner assumes.

One anvil per module (starting one takes well under a second, but there is no need for more):
tests use fresh, never-funded addresses so their order does not matter, and the only test that
rewrites history (the reorg) only drops blocks it mined itself. The assertions pin the quirks the
scanner depends on: USDT's transfer returns no data, the look-alike token shares name and symbol
but not address, an internal ETH transfer moves value although the outer `to` is a contract, and
a reverted transaction moves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3

from payments import devnet as devnet_module
from tests.chain.anvil import Anvil, AnvilError, AnvilNotInstalledError, find_anvil_binary

pytestmark = pytest.mark.anvil

TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").to_0x_hex()
ONE_USDT = 10**6
ONE_ETH = 10**18


def fresh_address(label: str) -> ChecksumAddress:
    """A deterministic address nobody holds a key for and that the chain has never seen."""
    return Web3.to_checksum_address(Web3.keccak(text=f"nexora-test:{label}")[-20:])


def topic_address(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


@pytest.fixture(scope="module")
def chain() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="module")
def tokens(chain: Anvil) -> dict[str, ChecksumAddress]:
    owner = chain.accounts[0]
    return {
        "usdt": chain.deploy("TetherToken", sender=owner),
        "fake": chain.deploy("FakeUSDT", sender=owner),
        "forwarder": chain.deploy("Forwarder", sender=owner),
    }


def test_anvil_answers_on_loopback_with_funded_accounts(chain: Anvil) -> None:
    assert chain.url == f"http://127.0.0.1:{chain.port}"
    assert int(chain.rpc("eth_chainId"), 16) == 31337
    assert len(chain.accounts) == 10
    assert chain.eth_balance(chain.accounts[9]) == 10_000 * ONE_ETH


def test_both_tokens_look_like_usdt_but_live_at_different_addresses(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    for key, artifact in (("usdt", "TetherToken"), ("fake", "FakeUSDT")):
        functions = chain.contract(artifact, tokens[key]).functions
        assert functions.name().call() == "Tether USD"
        assert functions.symbol().call() == "USDT"
        assert functions.decimals().call() == 6
    assert len({tokens["usdt"], tokens["fake"], tokens["forwarder"]}) == 3


def test_usdt_transfer_emits_exact_log_and_returns_no_data(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    usdt, alice, bob = tokens["usdt"], chain.accounts[1], fresh_address("usdt-bob")
    chain.receipt(chain.token_mint(usdt, alice, 1_000 * ONE_USDT))
    amount = 123_456_789  # 123.456789 USDT

    calldata = chain.contract("TetherToken", usdt).encode_abi("transfer", args=[bob, amount])
    assert chain.rpc("eth_call", [{"from": alice, "to": usdt, "data": calldata}, "latest"]) == "0x"

    receipt = chain.receipt(chain.token_transfer(usdt, bob, amount, sender=alice))
    assert receipt["status"] == 1
    (log,) = receipt["logs"]
    assert log["address"] == usdt
    assert [t.to_0x_hex() for t in log["topics"]] == [
        TRANSFER_TOPIC,
        topic_address(alice),
        topic_address(bob),
    ]
    assert int.from_bytes(log["data"], "big") == amount
    assert len(log["data"]) == 32
    assert chain.token_balance(usdt, bob) == amount
    assert chain.token_balance(usdt, alice) == 1_000 * ONE_USDT - amount


def test_usdt_transfer_from_needs_allowance_and_approve_needs_a_reset(
    chain: Anvil,
    tokens: dict[str, ChecksumAddress],
) -> None:
    usdt, holder, spender = tokens["usdt"], chain.accounts[1], chain.accounts[2]
    to = fresh_address("usdt-transfer-from")
    approve = chain.transact("TetherToken", usdt, "approve", spender, 5 * ONE_USDT, sender=holder)
    assert chain.receipt(approve)["status"] == 1
    # Like the original, a non-zero allowance cannot be changed to another non-zero value.
    again = chain.transact(
        "TetherToken",
        usdt,
        "approve",
        spender,
        9 * ONE_USDT,
        sender=holder,
        gas=100_000,
    )
    assert chain.receipt(again)["status"] == 0

    tx_hash = chain.transact(
        "TetherToken",
        usdt,
        "transferFrom",
        holder,
        to,
        2 * ONE_USDT,
        sender=spender,
    )
    (log,) = chain.receipt(tx_hash)["logs"]
    assert [t.to_0x_hex() for t in log["topics"][1:]] == [topic_address(holder), topic_address(to)]
    assert chain.token_balance(usdt, to) == 2 * ONE_USDT
    allowance = chain.contract("TetherToken", usdt).functions.allowance(holder, spender).call()
    assert allowance == 3 * ONE_USDT


def test_fake_usdt_is_a_standard_erc20_returning_true(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    fake, alice, bob = tokens["fake"], chain.accounts[2], fresh_address("fake-bob")
    chain.receipt(chain.token_mint(fake, alice, 50 * ONE_USDT))
    calldata = chain.contract("FakeUSDT", fake).encode_abi("transfer", args=[bob, ONE_USDT])
    returned = chain.rpc("eth_call", [{"from": alice, "to": fake, "data": calldata}, "latest"])
    assert returned == "0x" + "0" * 63 + "1"

    receipt = chain.receipt(chain.token_transfer(fake, bob, ONE_USDT, sender=alice))
    (log,) = receipt["logs"]
    assert log["address"] == fake
    assert log["topics"][0].to_0x_hex() == TRANSFER_TOPIC
    assert chain.token_balance(fake, bob) == ONE_USDT


def test_mint_is_owner_only(chain: Anvil, tokens: dict[str, ChecksumAddress]) -> None:
    stranger, victim = chain.accounts[3], fresh_address("mint-victim")
    for token in (tokens["usdt"], tokens["fake"]):
        # An explicit gas limit makes the node mine the reverting call instead of refusing it.
        tx_hash = chain.transact(
            "TetherToken",
            token,
            "mint",
            victim,
            ONE_USDT,
            sender=stranger,
            gas=200_000,
        )
        assert chain.receipt(tx_hash)["status"] == 0
        assert chain.token_balance(token, victim) == 0


def test_forwarder_moves_eth_by_internal_call(
    chain: Anvil,
    tokens: dict[str, ChecksumAddress],
) -> None:
    forwarder, payer, recipient = tokens["forwarder"], chain.accounts[4], fresh_address("fwd-ok")
    value = ONE_ETH // 4
    assert chain.eth_balance(recipient) == 0

    tx_hash = chain.transact(
        "Forwarder",
        forwarder,
        "forward",
        recipient,
        sender=payer,
        value=value,
    )
    receipt = chain.receipt(tx_hash)
    tx = chain.w3.eth.get_transaction(HexStr(tx_hash))

    assert receipt["status"] == 1
    assert tx["to"] == forwarder
    assert tx["value"] == value
    assert chain.eth_balance(recipient) == value
    assert chain.eth_balance(forwarder) == 0


def test_forward_and_fail_is_mined_with_status_0_and_moves_nothing(
    chain: Anvil, tokens: dict[str, ChecksumAddress]
) -> None:
    forwarder, payer, recipient = tokens["forwarder"], chain.accounts[5], fresh_address("fwd-fail")
    payer_before = chain.eth_balance(payer)

    tx_hash = chain.transact(
        "Forwarder",
        forwarder,
        "forwardAndFail",
        recipient,
        sender=payer,
        value=ONE_ETH,
        gas=100_000,
    )
    receipt = chain.receipt(tx_hash)

    assert receipt["status"] == 0
    assert receipt["logs"] == []
    assert chain.eth_balance(recipient) == 0
    assert chain.eth_balance(forwarder) == 0
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert chain.eth_balance(payer) == payer_before - fee


def test_manual_mining_when_automine_is_off(chain: Anvil) -> None:
    recipient = fresh_address("manual-mine")
    height = chain.block_number()
    chain.set_automine(False)
    try:
        tx_hash = chain.send_eth(recipient, 7, sender=chain.accounts[6])
        assert chain.block_number() == height
        assert chain.eth_balance(recipient) == 0
        assert chain.mine(2) == height + 2
    finally:
        chain.set_automine(True)
    assert chain.receipt(tx_hash)["blockNumber"] == height + 1
    assert chain.eth_balance(recipient) == 7


def test_snapshot_and_revert_drop_later_blocks(chain: Anvil) -> None:
    recipient = fresh_address("snapshot")
    snapshot_id = chain.snapshot()
    height = chain.block_number()
    chain.receipt(chain.send_eth(recipient, 11, sender=chain.accounts[7]))
    chain.mine(3)
    assert chain.block_number() == height + 4

    assert chain.revert(snapshot_id) is True
    assert chain.block_number() == height
    assert chain.eth_balance(recipient) == 0


def test_reorg_replaces_blocks_and_drops_their_transactions(chain: Anvil) -> None:
    sender, dropped_to, new_to = (
        chain.accounts[8],
        fresh_address("reorg-a"),
        fresh_address("reorg-b"),
    )
    old_receipt = chain.receipt(chain.send_eth(dropped_to, 1_000, sender=sender))
    height = old_receipt["blockNumber"]
    chain.mine(2)  # the dropped transfer has 3 confirmations before the reorg
    tip = chain.block_number()
    old_hashes = {n: chain.block(n)["hash"] for n in range(height - 1, tip + 1)}

    depth = tip - height + 1
    chain.reorg(depth, [({"from": sender, "to": new_to, "value": 2_000}, 0)])

    assert chain.block_number() == tip
    assert chain.block(height - 1)["hash"] == old_hashes[height - 1]  # the common ancestor
    for number in range(height, tip + 1):
        assert chain.block(number)["hash"] != old_hashes[number]
    assert chain.block(height)["parentHash"] == old_hashes[height - 1]
    old_hash = old_receipt["transactionHash"].to_0x_hex()
    assert chain.rpc("eth_getTransactionReceipt", [old_hash]) is None
    assert chain.eth_balance(dropped_to) == 0
    assert chain.eth_balance(new_to) == 2_000
    assert len(chain.block(height)["transactions"]) == 1


def test_stop_terminates_the_process_and_is_idempotent() -> None:
    node = Anvil().start()
    url, log_path = node.url, node.log_path
    assert node.running
    assert log_path is not None and log_path.exists()
    node.stop()
    node.stop()
    assert not node.running
    assert not log_path.exists()  # a temporary log goes with the node
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=2)


def test_a_failed_start_reports_anvils_own_words() -> None:
    node = Anvil(extra_args=["--no-such-flag"])
    with pytest.raises(AnvilError, match=r"(?s)exited during startup.*--no-such-flag"):
        node.start()
    assert not node.running


def test_block_time_mode_mines_without_transactions() -> None:
    with Anvil(block_time=1) as node:
        start = node.block_number()
        deadline = time.monotonic() + 5
        while node.block_number() < start + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert node.block_number() >= start + 1


def test_missing_binary_gives_an_actionable_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANVIL_BIN", raising=False)
    monkeypatch.setattr(devnet_module, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(AnvilNotInstalledError, match=r"npm ci"):
        find_anvil_binary()
    monkeypatch.setenv("ANVIL_BIN", str(tmp_path / "nowhere" / "anvil"))
    with pytest.raises(AnvilNotInstalledError, match="ANVIL_BIN"):
        find_anvil_binary()
