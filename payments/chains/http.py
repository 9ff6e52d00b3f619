"""The HTTP plumbing every chain adapter shares: one client, a timeout on every call, failover.

Design:

* ``Endpoints`` holds a network's URLs (tried in the configured order), an ``httpx.Client`` (by
  default one pool shared by the process, so scans reuse connections and adapters need no
  closing), the per-call timeout (``spec.timeout_s``) and extra headers (TronGrid's API key).
* ``Endpoints.failover(attempt)`` runs ``attempt(url)`` against each URL in turn. An attempt
  signals "this URL failed, try the next one" by raising ``NextUrl`` (connection error, timeout,
  5xx, a node-level error) or ``Throttled`` (HTTP 429 or a rate-limit message). After a throttled
  URL it sleeps ``options.backoff_s`` (default 0.25 s) before the next one, so the wait is bounded
  by the number of URLs. When every URL failed it raises ``RateLimited`` if any was throttled,
  else ``ChainError``, with each URL's reason. ``RangeTooLarge`` (HTTP 413 or the adapter's own
  detection) is not retried: another provider's limit is no better a guess than a smaller range.
* Adapters that need several requests to agree (EVM: the head and the blocks come from one node)
  put the whole unit of work inside one attempt; the others fail over request by request, and
  parse each answer inside its attempt, so an answer of the wrong shape also moves to the next URL.
* Only ``payments.chains.base`` errors leave this module's public helpers; ``NextUrl`` and
  ``Throttled`` never escape ``failover``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson

from payments.chains.base import ChainError, NetworkSpec, RangeTooLarge, RateLimited

T = TypeVar("T")
P = ParamSpec("P")
DEFAULT_BACKOFF_S = 0.25
_THROTTLE_WORDS = (
    "rate limit",
    "rate-limit",
    "ratelimit",
    "rate exceeded",
    "request rate",
    "too many requests",
    "frequency limit",
)
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


# What parsing an answer of the wrong shape raises (a missing key, a non-hex string, a None).
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)


class NextUrl(Exception):
    """This URL failed for a reason another URL may not share; try the next one."""


class Throttled(NextUrl):
    """This URL refused us for going too fast."""


def is_throttle_message(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _THROTTLE_WORDS)


_clients: dict[int, httpx.Client] = {}


def shared_client() -> httpx.Client:
    """One connection pool per process for every adapter (httpx clients are thread-safe);
    timeouts and headers are set per request, so adapters of different networks can share it.
    Keyed by pid: a forked worker (Celery prefork) must not reuse its parent's sockets."""
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        client = _clients[pid] = httpx.Client(limits=httpx.Limits(max_connections=50))
    return client


def chain_errors(method: Callable[P, T]) -> Callable[P, T]:
    """Decorate an adapter's public method: a malformed answer surfaces as ``ChainError``."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except MALFORMED as exc:
            raise ChainError(f"malformed answer from the node ({type(exc).__name__}: {exc})") from exc

    return wrapper


def option_int(spec: NetworkSpec, name: str, default: int) -> int:
    """An integer adapter option from ``spec.options`` (JSON, so it may arrive as a string)."""
    value = spec.options.get(name, default)
    return int(value) if isinstance(value, int | str) else default


def option_flag(spec: NetworkSpec, name: str) -> bool:
    value = spec.options.get(name, False)
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true", "yes"))


def _host(url: str) -> str:
    """The URL without path or query: API keys often live there and must not reach logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


class Endpoints:
    def __init__(
        self,
        spec: NetworkSpec,
        *,
        client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.urls = tuple(url.rstrip("/") for url in spec.urls)
        self.timeout = spec.timeout_s
        backoff = spec.options.get("backoff_s", DEFAULT_BACKOFF_S)
        self.backoff_s = float(backoff) if isinstance(backoff, int | float | str) else DEFAULT_BACKOFF_S
        self.client = client or shared_client()
        self.headers = {**_JSON_HEADERS, **(headers or {})}

    def failover(self, attempt: Callable[[str], T], what: str) -> T:
        """``attempt(url)`` on each URL until one succeeds; see the module docstring."""
        if not self.urls:
            raise ChainError(f"{what}: no node URL is configured")
        reasons: list[str] = []
        throttled = False
        for position, url in enumerate(self.urls):
            try:
                return attempt(url)
            except Throttled as exc:
                throttled = True
                reasons.append(f"{_host(url)}: {exc}")
                if position + 1 < len(self.urls):
                    time.sleep(self.backoff_s)
            except NextUrl as exc:
                reasons.append(f"{_host(url)}: {exc}")
            except MALFORMED as exc:  # an answer without the documented shape
                reasons.append(f"{_host(url)}: malformed answer ({type(exc).__name__}: {exc})")
        error = RateLimited if throttled else ChainError
        raise error(f"{what} failed on every URL: " + "; ".join(reasons))

    def send(self, method: str, url: str, body: bytes | None = None) -> httpx.Response:
        """One HTTP request; transport errors, 5xx and throttling become NextUrl / Throttled."""
        try:
            response = self.client.request(
                method, url, content=body, headers=self.headers, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise NextUrl(f"no answer within {self.timeout} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise NextUrl(f"{type(exc).__name__}: {exc}") from None
        self._check_status(response)
        return response

    @staticmethod
    def _check_status(response: httpx.Response) -> None:
        status = response.status_code
        if status < 400 or status == 404:
            return
        text = response.text[:200]
        if status == 429 or is_throttle_message(text):
            raise Throttled(f"HTTP {status} {text}".strip())
        if status == 413:
            raise RangeTooLarge(f"HTTP 413: the provider refused the request size {text}".strip())
        raise NextUrl(f"HTTP {status} {text}".strip())

    def fetch(self, method: str, url: str, body: object = None, *, missing_ok: bool = False) -> Any:
        """Decoded JSON (or text, when the body is not JSON) of one request; None for a 404 if allowed."""
        payload = None if body is None else orjson.dumps(body)
        response = self.send(method, url, payload)
        if response.status_code == 404:
            if missing_ok:
                return None
            raise NextUrl(f"HTTP 404 for {urlsplit(url).path}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return response.text

    def get(self, path: str, *, parse: Callable[[Any], T], missing_ok: bool = False) -> T | None:
        """GET ``path`` from the first URL whose answer ``parse`` accepts (a parse error = next URL).

        None only for a 404 with ``missing_ok``."""

        def attempt(url: str) -> T | None:
            answer = self.fetch("GET", url + path, missing_ok=missing_ok)
            return None if answer is None else parse(answer)

        return self.failover(attempt, f"GET {path}")
