"""Quoting: the configured rate service, and the conversions between fiat and base units.

* ``quote_units``: fiat amount -> base units the client must send, rounded UP at the network's
  ``quote_places`` (a client who pays the quote never pays short).
* ``refund_units``: fiat amount -> base units a refund sends, rounded DOWN (never more than held);
* ``credit_value``: base units -> fiat credited, rounded DOWN at the currency quantum (we never
  credit more than arrived). For payments inside the window at the locked rate, the credited total
  is capped at the quoted amount unless the client overpaid, so paying the quote credits exactly
  the amount asked for.

All arithmetic is Decimal under a local context wide enough for 78-digit chain amounts.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache

from django.conf import settings

from nexora.common.money import currency_quantum
from payments.models import Network
from payments.rates import (
    BinanceProvider,
    CoinGeckoProvider,
    KrakenProvider,
    Rate,
    RateProvider,
    RateService,
    StaticRateProvider,
)

_CONTEXT = decimal.Context(prec=120)


def _static_table() -> dict[tuple[str, str], str]:
    table = {}
    for pair, price in settings.NEXORA_STATIC_RATES.items():
        asset, _, currency = pair.partition("/")
        table[(asset.upper(), currency.upper())] = str(price)
    return table


def _provider(name: str) -> RateProvider:
    if name == "static":
        return StaticRateProvider(_static_table())
    if name == "coingecko":
        return CoinGeckoProvider(
            api_key=settings.NEXORA_COINGECKO_API_KEY or None, pro=settings.NEXORA_COINGECKO_PRO
        )
    if name == "binance":
        return BinanceProvider(usdt_as_usd=settings.NEXORA_BINANCE_USDT_AS_USD)
    if name == "kraken":
        return KrakenProvider()
    raise ValueError(f"unknown rate provider {name!r} in NEXORA_RATE_PROVIDERS")


@lru_cache(maxsize=1)
def rate_service() -> RateService:
    """The process-wide rate service built from settings (cached; ``rate_service.cache_clear()``)."""
    return RateService(
        providers=[_provider(n.strip().lower()) for n in settings.NEXORA_RATE_PROVIDERS],
        refresh_seconds=settings.NEXORA_RATE_REFRESH_S,
        max_age_seconds=settings.NEXORA_RATE_MAX_AGE_S,
        currencies=tuple(settings.NEXORA_CURRENCIES),
    )


def rate_quote(*, network: Network, currency: str) -> Rate:
    return rate_service().quote(network.asset, currency)


def quote_units(*, amount: Decimal, rate: Decimal, network: Network) -> int:
    """Base units to ask for ``amount`` at ``rate``, rounded up at ``network.quote_places``."""
    with decimal.localcontext(_CONTEXT):
        step = Decimal(1).scaleb(-network.quote_places)
        asset_amount = (amount / rate).quantize(step, rounding=ROUND_CEILING)
        return int(asset_amount.scaleb(network.decimals))


def refund_units(*, amount: Decimal, rate: Decimal, network: Network) -> int:
    """Base units ``amount`` is worth at ``rate``, rounded DOWN at ``network.quote_places``: a refund
    never sends out more than the money it takes from the ledger."""
    with decimal.localcontext(_CONTEXT):
        step = Decimal(1).scaleb(-network.quote_places)
        asset_amount = (amount / rate).quantize(step, rounding=ROUND_FLOOR)
        return int(asset_amount.scaleb(network.decimals))


def credit_value(*, units: int, rate: Decimal, network: Network, currency: str) -> Decimal:
    """Fiat value of ``units`` at ``rate``, rounded down to the currency quantum."""
    with decimal.localcontext(_CONTEXT):
        value = Decimal(units).scaleb(-network.decimals) * rate
        return value.quantize(currency_quantum(currency), rounding=ROUND_FLOOR)


def window_credit_total(
    *, units: int, quoted_units: int, amount: Decimal, rate: Decimal, network: Network, currency: str
) -> Decimal:
    """What ``units`` paid inside the quote window are worth in total at the locked rate."""
    value = credit_value(units=units, rate=rate, network=network, currency=currency)
    return value if units > quoted_units else min(value, amount)
