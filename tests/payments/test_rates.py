"""Rate providers against a real local HTTP server, and the median / cache / staleness rules.

The server (``http.server`` on 127.0.0.1, port 0) answers with recorded bodies in each provider's
documented response shape; a route can also answer with an error status, broken JSON or a delay
longer than the client's timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nexora.common.errors import ValidationFailed
from payments.rates import (
    BinanceProvider,
    CoinGeckoProvider,
    KrakenProvider,
    RateService,
    RateUnavailable,
    StaticRateProvider,
    decimal_json,
    median,
)

COINGECKO_USD = (
    b'{"bitcoin":{"usd":65000},"ethereum":{"usd":3000.123456789012345678},'
    b'"tether":{"usd":1.0001},"tron":{"usd":0.2345678}}'
)
BINANCE_USD = (
    b'[{"symbol":"BTCUSDT","price":"65010.00000000"},{"symbol":"ETHUSDT","price":"3000.10000000"},'
    b'{"symbol":"TRXUSDT","price":"0.23450000"}]'
)
BINANCE_EUR = (
    b'[{"symbol":"BTCEUR","price":"60000.10000000"},{"symbol":"ETHEUR","price":"2760.50000000"},'
    b'{"symbol":"EURUSDT","price":"1.08000000"}]'
)
KRAKEN_USD = (
    b'{"error":[],"result":{'
    b'"XXBTZUSD":{"a":["65020.10000","1","1.000"],"b":["65020.00000","2","2.000"],'
    b'"c":["65020.00000","0.00100000"],"v":["100.1","2000.2"],"p":["65000.1","64900.2"],'
    b'"t":[1000,20000],"l":["64000.0","63000.0"],"h":["66000.0","66500.0"],"o":"64500.00000"},'
    b'"XETHZUSD":{"a":["3000.20000","1","1.000"],"b":["3000.10000","2","2.000"],'
    b'"c":["3000.15000","0.01000000"],"v":["10.0","200.0"],"p":["2999.0","2990.0"],'
    b'"t":[100,2000],"l":["2950.0","2900.0"],"h":["3050.0","3100.0"],"o":"2990.00000"},'
    b'"TRXUSD":{"a":["0.234600","1","1.000"],"b":["0.234500","2","2.000"],"c":["0.234550","50.0"],'
    b'"v":["1","2"],"p":["0.23","0.23"],"t":[1,2],"l":["0.22","0.22"],"h":["0.24","0.24"],"o":"0.23"},'
    b'"USDTZUSD":{"a":["1.00010","1","1.000"],"b":["0.99990","2","2.000"],"c":["0.99985","100.0"],'
    b'"v":["1","2"],"p":["1.0","1.0"],"t":[1,2],"l":["0.99","0.99"],"h":["1.01","1.01"],"o":"1.0"}}}'
)
KRAKEN_ERROR = b'{"error":["EQuery:Unknown asset pair"]}'

COINGECKO_PATH = "/cg/api/v3/simple/price"
BINANCE_PATH = "/bn/api/v3/ticker/price"
KRAKEN_PATH = "/kr/0/public/Ticker"


@dataclass
class Route:
    body: bytes
    status: int = 200
    delay: float = 0.0


@dataclass
class Recorder:
    """What the fake provider server answers and what it was asked."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)
    base_url: str = ""

    def hits(self, path: str) -> int:
        return sum(1 for p, _, _ in self.requests if p == path)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        recorder = self.server.recorder
        recorder.requests.append(
            (url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()})
        )
        route = recorder.routes.get(url.path, Route(b'{"error":"no route"}', status=404))
        time.sleep(route.delay)
        self.send_response(route.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    recorder: Recorder

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that timed out closes the socket early (BrokenPipe): expected here


@pytest.fixture
def fake() -> Iterator[Recorder]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.recorder = Recorder(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server.recorder
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _providers(fake: Recorder, http: httpx.Client, timeout: float = 5.0) -> list:
    return [
        CoinGeckoProvider(base_url=fake.base_url + "/cg", client=http, timeout=timeout),
        BinanceProvider(base_url=fake.base_url + "/bn", usdt_as_usd=True, client=http, timeout=timeout),
        KrakenProvider(base_url=fake.base_url + "/kr", client=http, timeout=timeout),
    ]


def _serve_all(fake: Recorder) -> None:
    fake.routes.update(
        {
            COINGECKO_PATH: Route(COINGECKO_USD),
            BINANCE_PATH: Route(BINANCE_USD),
            KRAKEN_PATH: Route(KRAKEN_USD),
        }
    )


def _service(fake: Recorder, http: httpx.Client, clock: Clock, **kwargs: object) -> RateService:
    options: dict = {"max_age_seconds": 300, "refresh_seconds": 60, "retry_seconds": 5} | kwargs
    return RateService(providers=_providers(fake, http), clock=clock, **options)


def _assert_exact(values: dict[str, Decimal], expected: dict[str, str]) -> None:
    assert {k: str(v) for k, v in values.items()} == expected
    assert all(type(v) is Decimal for v in values.values())


# --- providers, one by one ---------------------------------------------------------------------


def test_coingecko_parses_exact_decimals_and_sends_key(fake: Recorder, http: httpx.Client) -> None:
    fake.routes[COINGECKO_PATH] = Route(COINGECKO_USD)
    provider = CoinGeckoProvider(base_url=fake.base_url + "/cg", api_key="demo-key", client=http)
    prices = provider.fetch(["BTC", "ETH", "TRX", "USDT"], "USD")
    _assert_exact(
        prices, {"BTC": "65000", "ETH": "3000.123456789012345678", "TRX": "0.2345678", "USDT": "1.0001"}
    )
    _path, query, headers = fake.requests[-1]
    assert query == {"ids": ["bitcoin,ethereum,tether,tron"], "vs_currencies": ["usd"]}
    assert headers["x-cg-demo-api-key"] == "demo-key" and "x-cg-pro-api-key" not in headers


def test_coingecko_pro_header(fake: Recorder, http: httpx.Client) -> None:
    fake.routes[COINGECKO_PATH] = Route(COINGECKO_USD)
    CoinGeckoProvider(base_url=fake.base_url + "/cg", api_key="k", pro=True, client=http).fetch(
        ["BTC"], "USD"
    )
    assert fake.requests[-1][2]["x-cg-pro-api-key"] == "k"


def test_binance_usdt_quotes_and_par_only_when_configured(fake: Recorder, http: httpx.Client) -> None:
    fake.routes[BINANCE_PATH] = Route(BINANCE_USD)
    provider = BinanceProvider(base_url=fake.base_url + "/bn", usdt_as_usd=True, client=http)
    prices = provider.fetch(["BTC", "ETH", "TRX", "USDT"], "USD")
    _assert_exact(prices, {"BTC": "65010.00000000", "ETH": "3000.10000000", "TRX": "0.23450000", "USDT": "1"})
    assert fake.requests[-1][1] == {"symbols": ['["BTCUSDT","ETHUSDT","TRXUSDT"]']}
    strict = BinanceProvider(base_url=fake.base_url + "/bn", client=http)
    assert strict.fetch(["BTC", "ETH", "TRX", "USDT"], "USD") == {}
    assert fake.hits(BINANCE_PATH) == 1  # nothing to ask: no request made


def test_binance_eur_pairs_and_inversion(fake: Recorder, http: httpx.Client) -> None:
    fake.routes[BINANCE_PATH] = Route(BINANCE_EUR)
    prices = BinanceProvider(base_url=fake.base_url + "/bn", client=http).fetch(
        ["BTC", "ETH", "TRX", "USDT"], "EUR"
    )
    _assert_exact(
        prices, {"BTC": "60000.10000000", "ETH": "2760.50000000", "USDT": "0.9259259259259259259259259259"}
    )
    assert fake.requests[-1][1] == {"symbols": ['["BTCEUR","ETHEUR","EURUSDT"]']}


def test_kraken_last_trade_price(fake: Recorder, http: httpx.Client) -> None:
    fake.routes[KRAKEN_PATH] = Route(KRAKEN_USD)
    prices = KrakenProvider(base_url=fake.base_url + "/kr", client=http).fetch(
        ["BTC", "ETH", "TRX", "USDT"], "USD"
    )
    _assert_exact(prices, {"BTC": "65020.00000", "ETH": "3000.15000", "TRX": "0.234550", "USDT": "0.99985"})
    assert fake.requests[-1][1] == {"pair": ["TRXUSD,USDTZUSD,XETHZUSD,XXBTZUSD"]}


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (KRAKEN_PATH, Route(KRAKEN_ERROR)),  # Kraken reports errors with HTTP 200
        (KRAKEN_PATH, Route(b"<html>busy</html>")),
        (KRAKEN_PATH, Route(b"{}", status=502)),
        (COINGECKO_PATH, Route(b'{"ethereum":{"usd":NaN}}')),
        (COINGECKO_PATH, Route(b'{"ethereum":{"usd":-1}}')),
        (COINGECKO_PATH, Route(b"[1, 2]")),
        (BINANCE_PATH, Route(b'{"code":-1121,"msg":"Invalid symbol."}', status=400)),
        (BINANCE_PATH, Route(b'[{"symbol":"ETHUSDT","price":"abc"}]')),
    ],
)
def test_provider_errors_raise(fake: Recorder, http: httpx.Client, path: str, route: Route) -> None:
    fake.routes[path] = route
    provider = {p.name: p for p in _providers(fake, http)}[
        {"/cg": "coingecko", "/bn": "binance", "/kr": "kraken"}[path[:3]]
    ]
    with pytest.raises(Exception):  # noqa: B017 -- any exception: the service treats them all alike
        provider.fetch(["ETH"], "USD")


def test_decimal_json_never_makes_floats() -> None:
    parsed = decimal_json(b'{"a": 0.1, "b": 7, "c": [1e-8]}')
    assert parsed == {"a": Decimal("0.1"), "b": Decimal(7), "c": [Decimal("1E-8")]}
    assert {type(parsed["a"]), type(parsed["b"]), type(parsed["c"][0])} == {Decimal}
    with pytest.raises(ValueError):
        decimal_json(b'{"a": Infinity}')


def test_static_provider_refuses_floats() -> None:
    with pytest.raises(TypeError):
        StaticRateProvider({("ETH", "USD"): 3000.5})  # type: ignore[dict-item]
    provider = StaticRateProvider({("eth", "usd"): "3000.50", ("USDT", "USD"): Decimal("1")})
    _assert_exact(provider.fetch(["ETH", "USDT", "BTC"], "USD"), {"ETH": "3000.50", "USDT": "1"})


# --- the service -------------------------------------------------------------------------------


def test_median_rules() -> None:
    assert median([Decimal("3"), Decimal("1"), Decimal("2")]) == Decimal("2")
    assert str(median([Decimal("3000.12"), Decimal("3000.15")])) == "3000.135"
    assert median([Decimal("1.1")]) == Decimal("1.1")


def test_median_across_three_providers(fake: Recorder, http: httpx.Client) -> None:
    _serve_all(fake)
    fixed = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    service = RateService(
        providers=_providers(fake, http), max_age_seconds=300, refresh_seconds=60, now=lambda: fixed
    )
    eth = service.quote("ETH", "USD")
    assert (eth.asset, eth.currency, eth.fetched_at) == ("ETH", "USD", fixed)
    assert str(eth.value) == "3000.123456789012345678" and type(eth.value) is Decimal
    assert eth.sources == ("coingecko", "binance", "kraken")
    assert str(service.quote("btc", "usd").value) == "65010.00000000"
    assert str(service.quote("USDT", "USD").value) == "1"  # 0.99985 < 1 (Binance at par) < 1.0001
    assert str(service.quote("TRX", "USD").value) == "0.234550"
    assert [fake.hits(p) for p in (COINGECKO_PATH, BINANCE_PATH, KRAKEN_PATH)] == [1, 1, 1]


@pytest.mark.parametrize(
    "broken",
    [Route(b"{}", status=500), Route(b"not json"), Route(b"{}"), Route(KRAKEN_USD, delay=1.5)],
    ids=["http-500", "bad-json", "missing-keys", "timeout"],
)
def test_one_provider_failing_is_outvoted(fake: Recorder, http: httpx.Client, broken: Route) -> None:
    _serve_all(fake)
    fake.routes[COINGECKO_PATH] = broken
    service = RateService(
        providers=_providers(fake, http, timeout=0.5), max_age_seconds=300, refresh_seconds=60
    )
    eth = service.quote("ETH", "USD")
    assert eth.sources == ("binance", "kraken")
    assert eth.value == Decimal("3000.125") and type(eth.value) is Decimal  # (3000.10 + 3000.15) / 2


def test_all_failing_is_rate_unavailable(fake: Recorder, http: httpx.Client) -> None:
    for path in (COINGECKO_PATH, BINANCE_PATH, KRAKEN_PATH):
        fake.routes[path] = Route(b"{}", status=503)
    clock = Clock()
    service = _service(fake, http, clock)
    with pytest.raises(RateUnavailable) as info:
        service.quote("ETH", "USD")
    assert (info.value.code, info.value.status) == ("rate_unavailable", 503)
    assert len(fake.requests) == 3
    with pytest.raises(RateUnavailable):  # inside retry_seconds: no new round of requests
        service.quote("ETH", "USD")
    assert len(fake.requests) == 3
    clock.t += 5
    _serve_all(fake)
    assert service.quote("ETH", "USD").sources == ("coingecko", "binance", "kraken")


def test_cache_then_refresh_then_stale_refused(fake: Recorder, http: httpx.Client) -> None:
    _serve_all(fake)
    clock = Clock()
    service = _service(fake, http, clock)
    first = service.quote("ETH", "USD")
    clock.t += 59
    assert service.quote("ETH", "USD") is first and len(fake.requests) == 3  # cached
    for path in (COINGECKO_PATH, BINANCE_PATH, KRAKEN_PATH):
        fake.routes[path] = Route(b"{}", status=500)
    clock.t += 1  # 60 s: refresh due, every provider fails, value still younger than max age
    assert service.quote("ETH", "USD") is first and len(fake.requests) == 6
    clock.t += 240  # exactly max age (300 s): still allowed
    assert service.quote("ETH", "USD") is first
    clock.t += 0.001
    with pytest.raises(RateUnavailable):
        service.quote("ETH", "USD")
    with pytest.raises(RateUnavailable):
        service.quote("BTC", "USD")


def test_refresh_replaces_the_value(fake: Recorder, http: httpx.Client) -> None:
    _serve_all(fake)
    clock = Clock()
    service = _service(fake, http, clock)
    assert service.quote("BTC", "USD").value == Decimal("65010.00000000")
    fake.routes[BINANCE_PATH] = Route(b'[{"symbol":"BTCUSDT","price":"70000.5"}]')
    clock.t += 60
    btc = service.quote("BTC", "USD")
    assert str(btc.value) == "65020.00000" and btc.sources == ("coingecko", "binance", "kraken")


def test_unsupported_asset_or_currency(fake: Recorder, http: httpx.Client) -> None:
    service = _service(fake, http, Clock())
    for asset, currency, code in (
        ("DOGE", "USD", "unsupported_asset"),
        ("ETH", "JPY", "unsupported_currency"),
    ):
        with pytest.raises(ValidationFailed) as info:
            service.quote(asset, currency)
        assert info.value.code == code
    assert fake.requests == []


def test_static_table_service_for_the_embedded_default() -> None:
    static = StaticRateProvider({("ETH", "EUR"): "2800.00", ("USDT", "EUR"): "0.92"})
    service = RateService(providers=[static], max_age_seconds=60, refresh_seconds=30)
    assert str(service.quote("ETH", "EUR").value) == "2800.00"
    assert service.quote("USDT", "EUR").sources == ("static",)
    with pytest.raises(RateUnavailable):
        service.quote("BTC", "EUR")
