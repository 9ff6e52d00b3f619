"""A fault-injecting JSON-RPC proxy in front of a real node (anvil), for the scanner's failure tests.

Design:

- ``FaultProxy(upstream)`` is a threaded HTTP server on a free loopback port (port 0, so tests can
  run in parallel). In mode ``pass`` it forwards every POST body unchanged to the upstream node
  (httpx, with a timeout) and returns the node's status and body: the adapter cannot tell it from
  the node itself.
- A test switches the behaviour at any time with :meth:`FaultProxy.set` (the mode is read once per
  request, under a lock). Modes:

  ``pass``           forward unchanged;
  ``http500``        answer HTTP 500 (a node or load balancer failing);
  ``http429``        answer HTTP 429 (a provider rate-limiting us);
  ``hang``           read the request and answer nothing for ``hang_s`` (longer than the adapter's
                     timeout), then close the connection; :meth:`close` releases hung requests at once;
  ``drop``           read the request and close the connection without an answer;
  ``empty_results``  forward, then drop every log of the ``near`` newest blocks from ``eth_getLogs``
                     answers and answer ``[]`` to their ``trace_block`` (a node whose log and trace
                     indexes lag its head: it reports head H but finds nothing in the last blocks);
  ``null_blocks``    forward, then answer ``null`` to ``eth_getBlockByNumber`` for the ``near``
                     newest blocks (a node whose block import lags the head it reported).

- ``when`` (a predicate over the request's JSON-RPC method names) limits the fault to some requests
  (for example only the batches with ``eth_getLogs``: the head read passes, the range scan fails);
  ``times`` limits it to the first N matching requests, then the proxy passes through again (a
  flaky node). Requests that do not match are forwarded.
- Counters, for asserting that the scanner really went through the proxy and how often:
  ``requests`` (every HTTP request), ``faulted`` (requests the fault applied to) and ``methods`` (a
  ``Counter`` of JSON-RPC method names, each call of a batch counted).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import orjson

Mode = Literal["pass", "http500", "http429", "hang", "drop", "empty_results", "null_blocks"]
Methods = Sequence[str]
UPSTREAM_TIMEOUT_S = 10.0
DEFAULT_HANG_S = 5.0


def _methods(body: Any) -> list[str]:
    calls = body if isinstance(body, list) else [body]
    return [str(call.get("method")) for call in calls if isinstance(call, dict)]


def _calls(body: Any) -> list[dict[str, Any]]:
    calls = body if isinstance(body, list) else [body]
    return [call for call in calls if isinstance(call, dict)]


def _quantity(value: Any) -> int | None:
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else None


def _hidden(mode: Mode, call: dict[str, Any], result: Any, last_visible: int) -> Any:
    """``result`` of ``call`` as a node that knows nothing above ``last_visible`` would answer it."""
    method, params = call.get("method"), call.get("params") or [None]
    height = _quantity(params[0])
    if mode == "null_blocks" and method == "eth_getBlockByNumber":
        return None if height is None or height > last_visible else result  # "latest" too
    if mode != "empty_results":
        return result
    if method == "eth_getLogs" and isinstance(result, list):
        return [log for log in result if (_quantity(log.get("blockNumber")) or 0) <= last_visible]
    if method == "trace_block" and height is not None and height > last_visible:
        return []
    return result


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    proxy: FaultProxy

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that gave up (timeout) closes its socket early: expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like a real node: a drop must break a pooled connection

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        answer = self.server.proxy.handle(body)
        if answer is None:  # hang or drop: no answer at all
            self.close_connection = True
            return
        status, payload = answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return


class FaultProxy:
    """A JSON-RPC proxy to ``upstream`` with switchable faults; see the module docstring."""

    def __init__(self, upstream: str, *, hang_s: float = DEFAULT_HANG_S) -> None:
        self.upstream = upstream
        self.hang_s = hang_s
        self.requests = 0
        self.faulted = 0
        self.methods: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._mode: Mode = "pass"
        self._near = 1
        self._when: Callable[[Methods], bool] | None = None
        self._times: int | None = None
        self._http = httpx.Client(timeout=UPSTREAM_TIMEOUT_S)
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.proxy = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    # -- control -------------------------------------------------------------------------------

    def set(
        self,
        mode: Mode,
        *,
        near: int = 1,
        when: Callable[[Methods], bool] | None = None,
        times: int | None = None,
    ) -> None:
        """Switch to ``mode`` for requests matching ``when`` (all by default), ``times`` times at most."""
        with self._lock:
            self._mode, self._near, self._when, self._times = mode, near, when, times

    def passthrough(self) -> None:
        self.set("pass")

    def reset_counts(self) -> None:
        with self._lock:
            self.requests, self.faulted = 0, 0
            self.methods.clear()

    # -- serving -------------------------------------------------------------------------------

    def _fault_for(self, methods: Methods) -> Mode:
        """The mode for one request (counting it), under the lock."""
        with self._lock:
            self.requests += 1
            self.methods.update(methods)
            mode = self._mode
            if mode == "pass" or (self._when is not None and not self._when(methods)):
                return "pass"
            if self._times is not None:
                if self._times <= 0:
                    return "pass"
                self._times -= 1
            self.faulted += 1
            return mode

    def handle(self, raw: bytes) -> tuple[int, bytes] | None:
        """The status and body to answer, or None to answer nothing."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        mode = self._fault_for(_methods(body))
        if mode == "http500":
            return 500, b'{"error": "internal server error"}'
        if mode == "http429":
            return 429, b'{"error": "too many requests"}'
        if mode == "hang":
            self._released.wait(self.hang_s)
            return None
        if mode == "drop":
            return None
        response = self._http.post(self.upstream, content=raw, headers={"Content-Type": "application/json"})
        if mode in ("empty_results", "null_blocks") and response.status_code == 200:
            return 200, self._rewrite(body, orjson.loads(response.content), mode)
        return response.status_code, response.content

    def _head(self) -> int:
        answer = self._http.post(
            self.upstream, json={"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}
        )
        return int(answer.json()["result"], 16)

    def _rewrite(self, request: Any, answer: Any, mode: Mode) -> bytes:
        """Hide the ``near`` newest blocks' results (``empty_results``) or blocks (``null_blocks``)."""
        last_visible = self._head() - self._near
        by_id = {call.get("id"): call for call in _calls(request)}
        for item in answer if isinstance(answer, list) else [answer]:
            call = by_id.get(item.get("id")) if isinstance(item, dict) else None
            if call is not None and "result" in item:
                item["result"] = _hidden(mode, call, item["result"], last_visible)
        return orjson.dumps(answer)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
