"""The hook registry: screeners (strictest verdict wins, errors hold) and after-commit announcements."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from payments.hooks import (
    Verdict,
    announce,
    listener_register,
    listener_unregister,
    screen,
    screener_register,
    screener_unregister,
)


@pytest.fixture
def heard() -> Any:
    seen: list[Any] = []

    def listen(fact: Any) -> None:
        seen.append(fact)

    listener_register("test_event", listen)
    yield seen
    listener_unregister("test_event", listen)


def test_strictest_verdict_wins_and_a_failing_screener_holds() -> None:
    def allow(fact: Any) -> Verdict:
        return Verdict.ALLOW

    def broken(fact: Any) -> Verdict:
        raise RuntimeError("list unavailable")

    screener_register("test_screen", allow)
    try:
        assert screen("test_screen", object()) == Verdict.ALLOW
        screener_register("test_screen", broken)
        assert screen("test_screen", object()) == Verdict.REVIEW
    finally:
        screener_unregister("test_screen", allow)
        screener_unregister("test_screen", broken)
    assert screen("test_screen", object()) == Verdict.ALLOW


@pytest.mark.django_db
def test_announcement_waits_for_commit(heard: list[Any], django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        announce("test_event", "credited")
        assert heard == []
    assert heard == ["credited"]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_fact_is_never_announced(heard: list[Any]) -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        announce("test_event", "lost")
        _ = 1 / 0
    assert heard == []
    with transaction.atomic():
        announce("test_event", "kept")
    assert heard == ["kept"]


@pytest.mark.django_db
def test_failing_listener_is_ignored(heard: list[Any], django_capture_on_commit_callbacks: Any) -> None:
    def broken(fact: Any) -> None:
        raise RuntimeError("smtp down")

    listener_register("test_event", broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            announce("test_event", "fact")
    finally:
        listener_unregister("test_event", broken)
    assert heard == ["fact"]
