"""Networks: the declarative loader, the watch-only rule everywhere a key enters, the shipped configs."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from nexora.common.errors import ValidationFailed
from payments.models import Network
from payments.services.networks import networks_load
from payments.services.topups import topup_create
from tests.conftest import DEVNET_EVM_XPUB, NETWORK_DEFAULTS

pytestmark = pytest.mark.django_db

PHRASE = "abandon " * 11 + "about"
# m/44'/60'/0' of that phrase as an extended PRIVATE key: it must be refused everywhere.
XPRV = (
    Bip44.FromSeed(Bip39SeedGenerator(PHRASE).Generate(), Bip44Coins.ETHEREUM)
    .Purpose().Coin().Account(0).PrivateKey().ToExtended()
)  # fmt: skip
ROOT = Path(settings.BASE_DIR)


def entry(**overrides):
    return {"code": "usdt-erc20", **NETWORK_DEFAULTS["usdt-erc20"], **overrides}


def test_load_creates_then_updates_then_reports_unchanged():
    report = networks_load(entries=[entry()])
    assert (report.created, report.updated) == (["usdt-erc20"], [])
    network = Network.objects.get()
    assert (network.min_amount, network.quote_places, network.decimals) == (10**6, 6, 6)
    assert networks_load(entries=[entry(confirmations=12)]).updated == ["usdt-erc20"]
    assert Network.objects.get().confirmations == 12
    assert networks_load(entries=[entry(confirmations=12)]).unchanged == ["usdt-erc20"]


@pytest.mark.parametrize(
    "secret", [XPRV, PHRASE, "L1aW4aubDFB7yfras2S1mN3bqg9nwySY8nkoLmJebSLD5BWv3ENZ", "ab" * 32]
)
def test_private_keys_are_refused_without_echoing_them(secret):
    with pytest.raises(ValidationFailed) as caught:
        networks_load(entries=[entry(xpub=secret)])
    assert caught.value.code == "private_key_refused"
    assert secret not in str(caught.value.as_dict()) and secret[:20] not in str(caught.value.as_dict())
    assert not Network.objects.exists()


def test_model_clean_refuses_a_private_key_too():
    network = Network(code="x", name="x", family="evm", chain_id=1, asset="ETH", decimals=18, quote_places=8,
                      confirmations=1, min_amount=0, xpub=XPRV)  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        network.full_clean()
    assert "private" in str(caught.value).lower() and XPRV not in str(caught.value)


def test_command_refuses_a_private_key_and_changes_nothing(tmp_path):
    path = tmp_path / "n.yaml"
    path.write_text(yaml.safe_dump({"networks": [entry(code="ok"), entry(code="bad", xpub=XPRV)]}))
    with pytest.raises(CommandError) as caught:
        call_command("networks_load", str(path))
    assert "Nothing was changed" in str(caught.value) and XPRV not in str(caught.value)
    assert not Network.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"family": "solana"}, "unsupported_family"),
        ({"chain_id": None}, "chain_id_required"),
        ({"token_contract": "0xdAC17F958D2ee523a2206206994597C13D831EC7"}, "invalid_contract"),  # bad EIP-55
        ({"quote_places": 7}, "invalid_decimals"),
        ({"min_amount": 0.5}, "invalid_amount"),
        ({"min_amount": "0.0000001"}, "invalid_amount"),
        ({"surprise": 1}, "unknown_field"),
        ({"xpub": "xpub-garbage"}, "invalid_xpub"),
    ],
)
def test_bad_entries_are_refused(overrides, code):
    with pytest.raises(ValidationFailed) as caught:
        networks_load(entries=[entry(**overrides)])
    assert caught.value.code == code
    assert not Network.objects.exists()


def test_networks_with_top_ups_keep_their_meaning_and_are_never_dropped(make_client):
    networks_load(entries=[entry(), {**entry(code="eth"), **NETWORK_DEFAULTS["eth"]}])
    topup_create(client=make_client(), network_code="usdt-erc20", amount="5")
    with pytest.raises(ValidationFailed) as caught:
        networks_load(entries=[entry(decimals=18)])
    assert caught.value.code == "network_in_use"
    report = networks_load(entries=[entry(code="eth", **NETWORK_DEFAULTS["eth"])], disable_missing=True)
    assert (report.missing, report.disabled) == (["usdt-erc20"], ["usdt-erc20"])
    assert Network.objects.get(code="usdt-erc20").enabled is False  # disabled, never deleted


def test_xpub_env_reads_the_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("TEST_XPUB_EVM", DEVNET_EVM_XPUB)
    base = entry()
    del base["xpub"]
    networks_load(entries=[{**base, "xpub_env": "TEST_XPUB_EVM"}])
    assert Network.objects.get().xpub == DEVNET_EVM_XPUB
    monkeypatch.delenv("TEST_XPUB_EVM")
    with pytest.raises(ValidationFailed) as caught:
        networks_load(entries=[{**base, "code": "other", "xpub_env": "TEST_XPUB_EVM"}])
    assert caught.value.code == "xpub_missing"


def test_devnet_config_loads_with_the_command():
    out = StringIO()
    call_command("networks_load", str(ROOT / "config" / "networks.devnet.yaml"), stdout=out)
    assert out.getvalue().strip() == "created: eth-devnet, usdt-devnet"
    usdt = Network.objects.get(code="usdt-devnet")
    assert (usdt.chain_id, usdt.token_contract, usdt.decimals) == (
        31337,
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        6,
    )


def test_mainnet_example_has_the_official_contracts(monkeypatch):
    data = yaml.safe_load((ROOT / "config" / "networks.mainnet.example.yaml").read_text())
    keys = {"NEXORA_XPUB_EVM": DEVNET_EVM_XPUB, "NEXORA_XPUB_TRON": NETWORK_DEFAULTS["trx"]["xpub"],
            "NEXORA_XPUB_BTC": NETWORK_DEFAULTS["btc"]["xpub"]}  # fmt: skip
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    networks_load(entries=data["networks"])
    contracts = dict(Network.objects.values_list("code", "token_contract"))
    assert contracts == {
        "eth": "", "trx": "", "btc": "",
        "usdt-erc20": "0xdAC17F958D2ee523a2206206994597C13D831ec7",
        "usdt-bep20": "0x55d398326f99059fF775485246999027B3197955",
        "usdt-polygon": "0xc2132D05D31c914a87C6611C10748AEb04B58e8F",
        "usdt-trc20": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
    }  # fmt: skip
    assert dict(Network.objects.values_list("code", "decimals"))["usdt-bep20"] == 18


def test_json_files_load_too(tmp_path):
    path = tmp_path / "n.json"
    path.write_text(json.dumps([entry()]))
    call_command("networks_load", str(path), stdout=StringIO())
    assert Network.objects.filter(code="usdt-erc20").exists()


def test_admin_form_refuses_a_private_key_and_a_meaning_change(admin_client, make_network, make_client):
    network = make_network("usdt-erc20")
    topup_create(client=make_client(), network_code="usdt-erc20", amount="5")
    url = f"/admin/payments/network/{network.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"node_urls": "[]", "options": "{}", "underpay_tolerance": "0"})
    response = admin_client.post(url, {**data, "xpub": XPRV})
    assert response.status_code == 200 and "private" in response.content.decode().lower()
    assert XPRV not in response.content.decode()  # a refused key is not even sent back to the form
    response = admin_client.post(url, {**data, "decimals": 18, "quote_places": 6})
    assert (
        response.status_code == 200
        and "cannot change once the network has top-ups" in response.content.decode()
    )
    assert Network.objects.get(pk=network.pk).decimals == 6
    response = admin_client.post(url, {**data, "confirmations": 30})
    assert response.status_code == 302 and Network.objects.get(pk=network.pk).confirmations == 30
