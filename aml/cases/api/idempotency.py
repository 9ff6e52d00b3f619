"""Replays of staff actions sent with an ``Idempotency-Key`` header (a double click, a retried POST).

The case actions have no key of their own (``aml.cases.actions``), and most of them must not run
twice (a second note, a second refund request). The API remembers, per staff user and key, a
fingerprint of the request (case, action, body) and the answer it got, in Django's cache (Redis
in production) for ``TTL_S``:

* the same key with the same request answers the stored response again, with
  ``Idempotent-Replayed: true``, and runs nothing;
* the same key with another request is ``409 idempotency_key_reused``;
* the same key while the first request still runs is ``409 idempotency_in_progress`` (``cache.add``
  is atomic in Redis, so two racing requests cannot both run).

Only successes are stored: a refused request (4xx) wrote nothing, so a retry with the same key may
run once the problem is fixed. Without the header nothing is stored. This is a guard against
duplicates, not a ledger key: money movements stay exactly-once through their own idempotency keys
and the case's row lock, whatever the cache holds (with the embedded default's per-process cache,
a replay is only recognised by the same process).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.response import Response

from nexora.common.errors import Conflict, IdempotencyConflict

HEADER = "Idempotency-Key"
TTL_S = 24 * 3600
RUNNING_TTL_S = 120  # longer than any action takes; a crashed request frees its key after this
MAX_KEY = 200


def _cache_key(request: Request, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"nexora:staff-action:{request.user.pk}:{digest}"


def idempotency_request_key(request: Request) -> str:
    """The header as a service's ``request_key`` (at most 100 characters), scoped to the person."""
    key = request.headers.get(HEADER, "").strip()[:MAX_KEY]
    if not key:
        return ""
    return "api:" + hashlib.sha256(f"{request.user.pk}:{key}".encode()).hexdigest()[:40]


def _fingerprint(scope: str, body: Any) -> str:
    return hashlib.sha256(json.dumps([scope, body], sort_keys=True, default=str).encode()).hexdigest()


def _replay(stored: dict[str, Any], fingerprint: str) -> Response:
    if stored["fingerprint"] != fingerprint:
        raise IdempotencyConflict()
    if stored.get("running"):
        raise Conflict(
            "A request with this idempotency key is still running.", code="idempotency_in_progress"
        )
    response = Response(stored["body"], status=stored["status"])
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request: Request, scope: str, run: Callable[[], Response]) -> Response:
    """``run()`` once per (user, Idempotency-Key); see the module docstring."""
    key = request.headers.get(HEADER, "").strip()[:MAX_KEY]
    if not key:
        return run()
    name, fingerprint = _cache_key(request, key), _fingerprint(scope, request.data)
    running = {"fingerprint": fingerprint, "running": True}
    if not cache.add(name, running, timeout=RUNNING_TTL_S):
        return _replay(cache.get(name) or running, fingerprint)  # (gone meanwhile: retry later)
    try:
        response = run()
    except BaseException:
        cache.delete(name)
        raise
    cache.set(name, {"fingerprint": fingerprint, "status": response.status_code, "body": response.data},
              timeout=TTL_S)  # fmt: skip
    return response
