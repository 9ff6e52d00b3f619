"""Structured JSON logs with a request id: accepted or made by the middleware, on every record of
the request and on the response; no bodies, IPs or personal data in application logs."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import orjson
import pytest
from django.test import Client

from nexora.common.logs import JsonFormatter, RequestIdFilter, request_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged anywhere, formatted as production does (JSON handler with the filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def records(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line]


def test_the_callers_request_id_is_kept_and_returned(log_lines, client_profile):
    web = Client(HTTP_X_REQUEST_ID="lb-7f3a.42")
    response = web.get("/api/v1/networks/")
    assert response["X-Request-ID"] == "lb-7f3a.42"
    (line,) = [r for r in records(log_lines) if r["logger"] == "nexora.request"]
    assert line["request_id"] == "lb-7f3a.42"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/networks/", 401)
    assert set(line) == {
        "ts",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
    }


@pytest.mark.parametrize("header", ["", "has spaces", "x" * 65, "new\nline", 'quote"s'])
def test_an_unusable_request_id_is_replaced(header):
    response = Client(HTTP_X_REQUEST_ID=header).get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_every_record_of_a_request_carries_its_id(log_lines, client_profile, settings):
    """A warning logged deep inside a request (Django's own 404) has the request's id."""
    response = Client(HTTP_X_REQUEST_ID="req-1").get("/api/v1/topups/not-a-topup/")
    assert response.status_code == 401
    web = Client(HTTP_X_REQUEST_ID="req-2")
    web.force_login(client_profile.user)
    assert web.get("/topups/00000000-0000-0000-0000-000000000000/").status_code == 404
    by_request = {(r["logger"], r["request_id"]) for r in records(log_lines)}
    assert ("django.request", "req-2") in by_request and ("nexora.request", "req-2") in by_request
    assert request_id.get() == "-"  # reset once the request is over


def test_no_body_ip_or_credentials_reach_the_logs(log_lines, client_profile):
    web = Client(REMOTE_ADDR="203.0.113.50", HTTP_USER_AGENT="SecretAgent/1")
    web.post(
        "/accounts/login/?email=ada@example.com",
        {"username": client_profile.user.username, "password": "hunter2-very-secret"},
    )
    web.post("/api/v1/topups/", {"network": "nope", "amount": "1"}, content_type="application/json")
    text = log_lines.getvalue()
    for secret in (
        "hunter2-very-secret",
        "203.0.113.50",
        "SecretAgent",
        "ada@example.com",
        client_profile.user.username,
    ):
        assert secret not in text
    assert '"path":"/accounts/login/"' in text  # the query string is left out too


def test_exceptions_are_logged_with_their_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed", extra={"network": "eth", "secret_field": "x"})
    finally:
        logger.removeHandler(handler)
    record = orjson.loads(stream.getvalue())
    assert record["message"] == "failed" and record["network"] == "eth" and "secret_field" not in record
    assert "RuntimeError: boom" in record["error"]


def test_celery_tasks_log_with_their_task_id(log_lines):
    from celery import shared_task

    @shared_task(name="tests.log_something")
    def log_something() -> str:
        logging.getLogger("tests.task").info("inside the task")
        return request_id.get()

    result = log_something.delay()
    seen = result.get()
    assert seen == f"task:{result.id}"
    (line,) = [r for r in records(log_lines) if r["logger"] == "tests.task"]
    assert line["request_id"] == f"task:{result.id}"
    assert request_id.get() == "-"


def test_the_configured_handler_writes_json_with_the_request_id(settings):
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"  # test and production profiles
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]
