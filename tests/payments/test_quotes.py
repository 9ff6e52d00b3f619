"""Quote arithmetic (round the ask up, the credit down) and the rate service built from settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from payments.models import Network
from payments.services.quotes import credit_value, quote_units, rate_service, window_credit_total


def net(decimals: int, places: int) -> Network:
    return Network(decimals=decimals, quote_places=places)


@pytest.mark.parametrize(
    ("amount", "rate", "decimals", "places", "units"),
    [
        ("50.00", "1", 6, 6, 50_000_000),
        ("50.00", "3", 6, 6, 16_666_667),  # 16.6666666... up
        ("50.00", "3", 18, 6, 16_666_667 * 10**12),  # BSC USDT: 18 decimals, quoted at 6 places
        ("0.01", "90000", 8, 8, 12),  # 0.000000111... BTC up to 12 sats
        ("1000000.00", "0.25", 6, 6, 4_000_000 * 10**6),
    ],
)
def test_quote_rounds_up_at_quote_places(amount, rate, decimals, places, units):
    assert quote_units(amount=Decimal(amount), rate=Decimal(rate), network=net(decimals, places)) == units


def test_credit_rounds_down_to_the_cent():
    assert credit_value(units=16_666_667, rate=Decimal(3), network=net(6, 6), currency="USD") == Decimal(
        "50.00"
    )
    assert credit_value(units=16_666_666, rate=Decimal(3), network=net(6, 6), currency="USD") == Decimal(
        "49.99"
    )
    assert credit_value(units=3, rate=Decimal(3), network=net(6, 6), currency="USD") == Decimal("0.00")


def test_window_total_is_capped_at_the_quote_unless_overpaid():
    args: dict[str, Any] = {"quoted_units": 16_666_667, "amount": Decimal("50.00"), "rate": Decimal("3.0001"),
            "network": net(6, 6), "currency": "USD"}  # fmt: skip
    assert window_credit_total(units=16_666_667, **args) == Decimal("50.00")  # worth 50.0016..., capped
    assert window_credit_total(units=16_666_666, **args) == Decimal("50.00")  # a unit short: still >= 50
    assert window_credit_total(units=10_000_000, **args) == Decimal("30.00")
    assert window_credit_total(units=20_000_000, **args) == Decimal("60.00")  # overpaid: all of it


def test_rate_service_is_built_from_settings(settings):
    settings.NEXORA_RATE_PROVIDERS = ["static", "coingecko", "binance", "kraken"]
    rate_service.cache_clear()
    assert [p.name for p in rate_service().providers] == ["static", "coingecko", "binance", "kraken"]
    settings.NEXORA_RATE_PROVIDERS = ["static", "oracle"]
    rate_service.cache_clear()
    with pytest.raises(ValueError, match="oracle"):
        rate_service()


def test_static_table_from_settings_quotes_exact_decimals(settings):
    settings.NEXORA_RATE_PROVIDERS = ["static"]
    settings.NEXORA_STATIC_RATES = {"ETH/USD": "3123.456789"}
    rate_service.cache_clear()
    rate = rate_service().quote("ETH", "USD")
    assert (rate.value, rate.sources) == (Decimal("3123.456789"), ("static",))
