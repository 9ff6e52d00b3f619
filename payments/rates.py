"""Exchange rates: crypto asset -> account currency, as exact Decimals from several providers.

Design:

* A provider is anything with a ``name`` and ``fetch(assets, currency) -> {asset: Decimal}``
  (``RateProvider``). It returns the assets it could price and raises ``RateProviderError`` (or
  anything else) when the whole answer is unusable. Shipped: a static table (the embedded
  default and the tests), CoinGecko, Binance and Kraken over their public HTTP APIs.
* Numbers never pass through ``float``: JSON is parsed with ``json.loads(parse_float=Decimal,
  parse_int=Decimal)`` (orjson would hand back floats), string prices go straight to
  ``Decimal(str)``, and only finite, strictly positive values are accepted.
* ``RateService`` asks every provider concurrently (one HTTP call each per currency, for all
  configured assets at once), takes the median of those that answered, and caches it per
  (asset, currency). A cached value is refreshed after ``refresh_seconds``; if the refresh fails
  it may still be served, with a warning, until it is ``max_age_seconds`` old. Past that,
  ``RateUnavailable`` (503): a stale price is never returned silently. After a failed refresh
  the providers are not asked again for ``retry_seconds``, so an outage does not turn every
  top-up request into a five-second wait.
* Every outbound call has a timeout (5 s by default), also when a client is injected.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, Protocol

import httpx

from nexora.common.errors import ServiceUnavailable, ValidationFailed

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_ASSETS = ("BTC", "ETH", "TRX", "USDT")
DEFAULT_CURRENCIES = ("EUR", "USD")


class RateUnavailable(ServiceUnavailable):
    code = "rate_unavailable"
    status = 503
    default_message = "No current exchange rate is available right now; please try again in a minute."


class RateProviderError(Exception):
    """One provider's answer is unusable; the service logs it and uses the others."""


class RateProvider(Protocol):
    name: str

    def fetch(self, assets: Sequence[str], currency: str) -> dict[str, Decimal]: ...


@dataclass(frozen=True, slots=True)
class Rate:
    """Price of one unit of ``asset`` in ``currency``."""

    asset: str
    currency: str
    value: Decimal
    sources: tuple[str, ...]
    fetched_at: datetime


# --- parsing -----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Decimal:
    raise ValueError(f"non-finite JSON constant {name}")


def decimal_json(text: str | bytes) -> Any:
    """Parse JSON with every number as ``Decimal`` (and NaN / Infinity refused)."""
    return json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant)


def price_parse(value: object) -> Decimal:
    """A finite, strictly positive Decimal from a JSON number or a numeric string."""
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise RateProviderError("price is not a number") from None
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise RateProviderError("price is not a positive finite number")
    return value


# --- providers ---------------------------------------------------------------------------------


class StaticRateProvider:
    """Fixed table ``{(asset, currency): value}``: the embedded default and a test double."""

    name = "static"

    def __init__(self, table: Mapping[tuple[str, str], Decimal | str | int]) -> None:
        if any(isinstance(v, float) for v in table.values()):
            raise TypeError("rates must be Decimal, str or int, never float")
        self.table = {(a.upper(), c.upper()): price_parse(Decimal(v)) for (a, c), v in table.items()}

    def fetch(self, assets: Sequence[str], currency: str) -> dict[str, Decimal]:
        return {a: self.table[(a, currency)] for a in assets if (a, currency) in self.table}


class _HttpProvider:
    """GET + status check + Decimal JSON, with a timeout on every call."""

    name = "http"

    def __init__(
        self,
        *,
        base_url: str,
        client: httpx.Client | None,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)
        self.timeout = timeout
        self.headers = dict(headers or {})

    def _get_json(self, path: str, params: Mapping[str, str]) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self.client.get(url, params=params, headers=self.headers, timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RateProviderError(f"{self.name}: {type(exc).__name__}: {exc}") from None
        try:
            return decimal_json(response.content)
        except ValueError:
            raise RateProviderError(f"{self.name}: response is not valid JSON") from None


COINGECKO_IDS: Mapping[str, str] = {"BTC": "bitcoin", "ETH": "ethereum", "TRX": "tron", "USDT": "tether"}


class CoinGeckoProvider(_HttpProvider):
    """``GET /api/v3/simple/price?ids=...&vs_currencies=usd`` -> ``{"ethereum": {"usd": 3000.12}}``.

    The public/demo API lives at api.coingecko.com (key header ``x-cg-demo-api-key``), the paid
    one at pro-api.coingecko.com (``x-cg-pro-api-key``); ``pro`` picks the header.
    """

    name = "coingecko"

    def __init__(
        self,
        *,
        base_url: str = "https://api.coingecko.com",
        api_key: str | None = None,
        pro: bool = False,
        ids: Mapping[str, str] = COINGECKO_IDS,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        header = "x-cg-pro-api-key" if pro else "x-cg-demo-api-key"
        headers = {header: api_key} if api_key else {}
        super().__init__(base_url=base_url, client=client, timeout=timeout, headers=headers)
        self.ids = dict(ids)

    def fetch(self, assets: Sequence[str], currency: str) -> dict[str, Decimal]:
        wanted = {a: self.ids[a] for a in assets if a in self.ids}
        if not wanted:
            return {}
        vs = currency.lower()
        params = {"ids": ",".join(sorted(set(wanted.values()))), "vs_currencies": vs}
        body = self._get_json("/api/v3/simple/price", params)
        if not isinstance(body, dict):
            raise RateProviderError("coingecko: unexpected response shape")
        prices = {a: body.get(coin, {}) for a, coin in wanted.items()}
        return {a: price_parse(p[vs]) for a, p in prices.items() if isinstance(p, dict) and vs in p}


class BinancePair(NamedTuple):
    """Where Binance prices an (asset, currency); ``symbol=None`` means par (1) by configuration."""

    symbol: str | None
    invert: bool = False


BINANCE_EUR_PAIRS: Mapping[tuple[str, str], BinancePair] = {
    ("BTC", "EUR"): BinancePair("BTCEUR"),
    ("ETH", "EUR"): BinancePair("ETHEUR"),
    ("USDT", "EUR"): BinancePair("EURUSDT", invert=True),  # EUR priced in USDT
}
# Only with ``usdt_as_usd=True``: Binance quotes in USDT, taken as 1 USDT = 1 USD.
BINANCE_USDT_AS_USD_PAIRS: Mapping[tuple[str, str], BinancePair] = {
    ("BTC", "USD"): BinancePair("BTCUSDT"),
    ("ETH", "USD"): BinancePair("ETHUSDT"),
    ("TRX", "USD"): BinancePair("TRXUSDT"),
    ("USDT", "USD"): BinancePair(None),
}


class BinanceProvider(_HttpProvider):
    """``GET /api/v3/ticker/price?symbols=["ETHUSDT",...]`` -> ``[{"symbol", "price": "3000.10"}]``.

    Binance has no USD order books, only USDT ones. Reading an ``XUSDT`` price as a USD price
    assumes USDT trades at par; that assumption is opt-in (``usdt_as_usd``) because it fails
    exactly when it matters (a de-peg), and then the median of the other providers outvotes it.
    Binance rejects the whole request if one symbol is unknown (error -1121), so ``pairs`` must
    list only symbols that trade on the configured ``base_url``.
    """

    name = "binance"

    def __init__(
        self,
        *,
        base_url: str = "https://api.binance.com",
        usdt_as_usd: bool = False,
        pairs: Mapping[tuple[str, str], BinancePair] | None = None,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(base_url=base_url, client=client, timeout=timeout)
        default = {**BINANCE_EUR_PAIRS, **(BINANCE_USDT_AS_USD_PAIRS if usdt_as_usd else {})}
        self.pairs = dict(pairs if pairs is not None else default)

    def fetch(self, assets: Sequence[str], currency: str) -> dict[str, Decimal]:
        wanted = {a: self.pairs[(a, currency)] for a in assets if (a, currency) in self.pairs}
        symbols = sorted({p.symbol for p in wanted.values() if p.symbol})
        prices = self._prices(symbols) if symbols else {}
        result: dict[str, Decimal] = {}
        for asset, pair in wanted.items():
            if pair.symbol is None:
                result[asset] = Decimal(1)
            elif pair.symbol in prices:
                price = prices[pair.symbol]
                result[asset] = Decimal(1) / price if pair.invert else price
        return result

    def _prices(self, symbols: list[str]) -> dict[str, Decimal]:
        body = self._get_json("/api/v3/ticker/price", {"symbols": json.dumps(symbols, separators=(",", ":"))})
        if not isinstance(body, list):
            raise RateProviderError("binance: unexpected response shape")
        rows = [row for row in body if isinstance(row, dict) and row.get("symbol") in symbols]
        return {row["symbol"]: price_parse(row.get("price")) for row in rows}


KRAKEN_PAIRS: Mapping[tuple[str, str], str] = {
    ("BTC", "USD"): "XXBTZUSD",
    ("ETH", "USD"): "XETHZUSD",
    ("TRX", "USD"): "TRXUSD",
    ("USDT", "USD"): "USDTZUSD",
    ("BTC", "EUR"): "XXBTZEUR",
    ("ETH", "EUR"): "XETHZEUR",
    ("TRX", "EUR"): "TRXEUR",
    ("USDT", "EUR"): "USDTEUR",
}


class KrakenProvider(_HttpProvider):
    """``GET /0/public/Ticker?pair=XETHZUSD,...`` -> ``{"error": [], "result": {pair: {"c": [...]}}}``.

    ``c[0]`` is the last trade price. Pairs are requested by Kraken's canonical names (``XXBTZUSD``,
    not ``BTCUSD``) because the result is keyed by them. A non-empty ``error`` list (Kraken answers
    errors with HTTP 200) fails the whole answer.
    """

    name = "kraken"

    def __init__(
        self,
        *,
        base_url: str = "https://api.kraken.com",
        pairs: Mapping[tuple[str, str], str] = KRAKEN_PAIRS,
        client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(base_url=base_url, client=client, timeout=timeout)
        self.pairs = dict(pairs)

    def fetch(self, assets: Sequence[str], currency: str) -> dict[str, Decimal]:
        wanted = {a: self.pairs[(a, currency)] for a in assets if (a, currency) in self.pairs}
        if not wanted:
            return {}
        body = self._get_json("/0/public/Ticker", {"pair": ",".join(sorted(set(wanted.values())))})
        if not isinstance(body, dict) or body.get("error") or not isinstance(body.get("result"), dict):
            raise RateProviderError(f"kraken: error or unexpected answer: {repr(body)[:200]}")
        tickers = {a: body["result"].get(pair) for a, pair in wanted.items()}
        return {a: price_parse(t["c"][0]) for a, t in tickers.items() if _has_last_trade(t)}


def _has_last_trade(ticker: object) -> bool:
    return isinstance(ticker, dict) and isinstance(ticker.get("c"), list) and len(ticker["c"]) > 0


# --- the service -------------------------------------------------------------------------------


def median(values: Sequence[Decimal]) -> Decimal:
    """Median; for an even count the mean of the two middle values (exact Decimal arithmetic)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True, slots=True)
class _Entry:
    rate: Rate
    at: float  # service clock (monotonic) when fetched


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RateService:
    """Cached median of several providers; see the module docstring for the freshness rules."""

    def __init__(
        self,
        *,
        providers: Sequence[RateProvider],
        max_age_seconds: float,
        refresh_seconds: float,
        retry_seconds: float = 5.0,
        assets: Sequence[str] = DEFAULT_ASSETS,
        currencies: Sequence[str] = DEFAULT_CURRENCIES,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not providers or not 0 < refresh_seconds <= max_age_seconds:
            raise ValueError("need providers and 0 < refresh_seconds <= max_age_seconds")
        self.providers = tuple(providers)
        self.max_age = max_age_seconds
        self.refresh = refresh_seconds
        self.retry = retry_seconds
        self.assets = tuple(a.upper() for a in assets)
        self.currencies = tuple(c.upper() for c in currencies)
        self._clock, self._now = clock, now
        self._cache: dict[tuple[str, str], _Entry] = {}
        self._failed_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def quote(self, asset: str, currency: str) -> Rate:
        """Current rate of ``asset`` in ``currency``; ``RateUnavailable`` when none is fresh enough."""
        key = self._key(asset, currency)
        if self._age(key) >= self.refresh:
            self._refresh(key)
        entry = self._cache.get(key)
        if entry is None or self._age(key) > self.max_age:
            raise RateUnavailable()
        return entry.rate

    def _key(self, asset: str, currency: str) -> tuple[str, str]:
        key = (asset.upper(), currency.upper())
        if key[0] not in self.assets:
            raise ValidationFailed("This asset has no exchange rate.", code="unsupported_asset")
        if key[1] not in self.currencies:
            raise ValidationFailed("This currency is not supported.", code="unsupported_currency")
        return key

    def _age(self, key: tuple[str, str]) -> float:
        entry = self._cache.get(key)
        return math.inf if entry is None else self._clock() - entry.at

    def _refresh(self, key: tuple[str, str]) -> None:
        currency = key[1]
        with self._lock:  # one refresh at a time; whoever waited re-checks before asking again
            if not self._due(key):
                return
            answers = self._ask_all(currency)
            at, fetched_at = self._clock(), self._now()
            for asset in self.assets:
                quotes = [(name, prices[asset]) for name, prices in answers if asset in prices]
                if quotes:
                    value, sources = median([v for _, v in quotes]), tuple(n for n, _ in quotes)
                    self._cache[(asset, currency)] = _Entry(
                        Rate(asset, currency, value, sources, fetched_at), at
                    )
            self._note_outcome(key, at)

    def _due(self, key: tuple[str, str]) -> bool:
        failed_at = self._failed_at.get(key[1], -math.inf)
        return self._age(key) >= self.refresh and self._clock() - failed_at >= self.retry

    def _note_outcome(self, key: tuple[str, str], at: float) -> None:
        if self._cache.get(key) is not None and self._cache[key].at == at:
            self._failed_at.pop(key[1], None)
            return
        self._failed_at[key[1]] = at
        logger.warning("rates: no provider priced %s/%s; serving the cached value while young enough", *key)

    def _ask_all(self, currency: str) -> list[tuple[str, dict[str, Decimal]]]:
        with ThreadPoolExecutor(max_workers=len(self.providers), thread_name_prefix="rates") as pool:
            futures = [pool.submit(self._ask, p, currency) for p in self.providers]
            answers = [(p.name, f.result()) for p, f in zip(self.providers, futures, strict=True)]
        return [(name, prices) for name, prices in answers if prices]

    def _ask(self, provider: RateProvider, currency: str) -> dict[str, Decimal]:
        try:
            prices = provider.fetch(self.assets, currency)
            return {a: price_parse(v) for a, v in prices.items() if a in self.assets}
        except Exception as exc:  # any provider failure only removes that provider's vote
            logger.warning("rates: provider %s failed for %s: %s", provider.name, currency, exc)
            return {}
