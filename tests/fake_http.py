"""A loopback HTTP server in a thread, for tests that stand in for services we cannot run here
(TronGrid, Esplora, a misbehaving JSON-RPC node, price APIs, the Telegram Bot API).

``LocalServer(respond)`` calls ``respond(method, path, headers, body) -> (status, answer)`` for every
request; ``answer`` is sent as is when ``bytes``, as ``text/plain`` when ``str``, and as JSON
otherwise. The server binds port 0 (tests can run in parallel) and is a context manager.

``Failure`` is the switch the fakes share to misbehave: ``fail`` answers every request with one
(status, body), for ``times`` requests or until cleared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import orjson

Responder = Callable[[str, str, Mapping[str, str], bytes], tuple[int, Any]]


def _encode(answer: Any) -> tuple[bytes, str]:
    if isinstance(answer, bytes):
        return answer, "application/json"
    if isinstance(answer, str):
        return answer.encode(), "text/plain"
    return orjson.dumps(answer), "application/json"


class Failure:
    """``set((429, body), times=2)``: the next two requests get that answer; ``take()`` says what to
    answer now (None: behave)."""

    def __init__(self) -> None:
        self.answer: tuple[int, Any] | None = None
        self.times: int | None = None

    def set(self, answer: tuple[int, Any] | None, *, times: int | None = None) -> None:
        self.answer, self.times = answer, times

    def take(self) -> tuple[int, Any] | None:
        answer = self.answer
        if answer is not None and self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.set(None)
        return answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    respond: Responder

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that timed out closes its socket early (BrokenPipe): expected in these tests


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        status, answer = self.server.respond(self.command, self.path, dict(self.headers.items()), body)
        payload, kind = _encode(answer)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: object) -> None:
        return


class LocalServer:
    def __init__(self, respond: Responder) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.respond = respond
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
