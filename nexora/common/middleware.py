"""The request-id middleware: the first thing every request passes through.

It accepts the caller's ``X-Request-ID`` (a load balancer's or another service's, when it is plain
enough to log) or makes one, exposes it to every log record of the request
(``nexora.common.logs``), returns it in the response's ``X-Request-ID`` header, and writes one
access-log line per request: method, path (without the query string, which may carry personal
data), status and duration. No IP, no user, no body: those are personal data, and the security log
is the one place that keeps IPs. Health probes are logged at DEBUG so they do not drown the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from nexora.common.logs import current_request, request_id, request_id_accept

HEADER = "X-Request-ID"
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
logger = logging.getLogger("nexora.request")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_accept(request.headers.get(HEADER))
        request.request_id = rid  # type: ignore[attr-defined]
        id_token, request_token = request_id.set(rid), current_request.set(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = rid
            level = logging.DEBUG if request.path in PROBE_PATHS else logging.INFO
            logger.log(
                level,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            request_id.reset(id_token)
            current_request.reset(request_token)
