"""The event catalogue: every text in every language, neutral (invariant 8), and strict parameters."""

# ruff: noqa: RUF001 (Russian and Ukrainian texts are expected here)

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.utils import translation

from aml.notifications.channels import message_text
from aml.notifications.events import EVENTS, event_get, event_render, params_clean
from aml.notifications.linking import REPLIES
from nexora.common.errors import ValidationFailed

TOPUP = "8f6b2c1e-4a1d-4c3b-9a57-1f2e3d4c5b6a"
ALL_PARAMS = params_clean(
    {"amount": Decimal("12.50"), "currency": "USD", "network": "USDT (TRON, TRC-20)", "topup": TOPUP,
     "due_date": date(2026, 5, 1)}
)  # fmt: skip
LANGUAGES = ("en", "ru", "uk")

# What a client must never read: the words of rules, scores, lists and reasons, in EN, RU and UK.
FORBIDDEN = re.compile(
    r"\b(rules?|scor\w*|points?|risk\w*|sanction\w*|ofac|lists?|listed|black\w*|watch\w*|aml|"
    r"launder\w*|suspic\w*|suspect\w*|flag\w*|alert\w*|match\w*|screen\w*|typolog\w*|case|reason\w*|"
    r"правил\w*|балл\w*|бал(и|ів|ами)|скоринг\w*|риск\w*|ризик\w*|санкц\w*|спис\w*|перелік\w*|"
    r"подозр\w*|підозр\w*|отмыв\w*|відмив\w*|совпад\w*|збіг\w*|оценк\w*|оцінк\w*|причин\w*)\b",
    re.IGNORECASE,
)


def test_the_catalogue_has_exactly_the_documented_events() -> None:
    assert set(EVENTS) == {
        "topup_seen", "topup_credited", "under_review", "released", "documents_requested", "refund_sent",
        "account_frozen", "account_unfrozen", "account_terminated", "statement_received",
    }  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_is_neutral_and_translated_in_every_language(event: str, language: str) -> None:
    rendered = event_render(event=event, params=ALL_PARAMS, language=language)
    with translation.override(language):
        texts = [message_text(rendered, footer=True), message_text(rendered, footer=False)]
    for text in [rendered.title, rendered.body, *texts]:
        assert FORBIDDEN.search(text) is None, (event, language, FORBIDDEN.search(text))
    english = event_render(event=event, params=ALL_PARAMS, language="en")
    if language != "en":  # really translated, not the English msgid shown through
        assert rendered.title != english.title and rendered.body != english.body
        assert re.search(r"[а-яіїєґ]", rendered.title + rendered.body, re.IGNORECASE)


@pytest.mark.parametrize("language", LANGUAGES)
def test_bot_replies_are_neutral_and_translated(language: str) -> None:
    for key, text in REPLIES.items():
        with translation.override(language):
            shown = str(text)
        assert FORBIDDEN.search(shown) is None, (key, language)
        if language != "en":
            assert re.search(r"[а-яіїєґ]", shown, re.IGNORECASE), key


@pytest.mark.parametrize(
    ("language", "details"),
    [
        ("en", [("Amount", "12.50 USD"), ("Network", "USDT (TRON, TRC-20)"), ("Due date", "May 1, 2026")]),
        ("ru", [("Сумма", "12.50 USD"), ("Сеть", "USDT (TRON, TRC-20)"), ("Срок", "1 мая 2026 г.")]),
        ("uk", [("Сума", "12.50 USD"), ("Мережа", "USDT (TRON, TRC-20)"), ("Термін", "01 травня 2026 р.")]),
    ],
)
def test_details_are_rendered_in_the_language(language: str, details: list[tuple[str, str]]) -> None:
    rendered = event_render(event="documents_requested", params=ALL_PARAMS, language=language)
    assert rendered.details == details
    assert rendered.path == f"/topups/{TOPUP}/"
    assert rendered.url == f"https://pay.example.com/topups/{TOPUP}/"


def test_exact_english_message_text() -> None:
    rendered = event_render(event="topup_credited", params=ALL_PARAMS, language="en")
    with translation.override("en"):
        assert message_text(rendered, footer=True) == (
            "Your top-up has been credited\n\n"
            "The payment has been credited to your balance.\n\n"
            "Amount: 12.50 USD\nNetwork: USDT (TRON, TRC-20)\nDue date: May 1, 2026\n\n"
            f"Open in the client area: https://pay.example.com/topups/{TOPUP}/\n\n"
            "-- \n"
            "You receive this message because notifications are on in your Nexora account. "
            "Notification settings: https://pay.example.com/notifications/settings/\n"
        )


def test_without_params_the_text_is_the_same_and_has_no_details() -> None:
    rendered = event_render(event="under_review", params={}, language="en")
    assert rendered.title == "Your top-up is under review" and rendered.details == [] and rendered.path == ""


def test_parameters_are_cleaned_to_strings() -> None:
    given = {"amount": 5, "asset": "USDT", "due_date": "2026-05-01", "link": "/topups/", "network": " TRX ",
             "currency": None}  # fmt: skip
    expected = {
        "amount": "5",
        "asset": "USDT",
        "due_date": "2026-05-01",
        "link": "/topups/",
        "network": "TRX",
    }
    assert params_clean(given) == expected
    assert params_clean(None) == {}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"reason": "OFAC SDN match"}, "reason"),  # free text has no parameter to ride in
        ({"amount": 12.5}, "amount"),  # never a float in a money path
        ({"amount": True}, "amount"),
        ({"amount": "12,50"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"currency": "usd"}, "currency"),
        ({"network": "x" * 101}, "network"),
        ({"network": "  "}, "network"),
        ({"topup": "not-a-uuid"}, "topup"),
        ({"link": "https://evil.example/"}, "link"),
        ({"link": "//evil.example/"}, "link"),
        ({"link": "/no-such-page/"}, "link"),
        ({"due_date": "01.05.2026"}, "due_date"),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        params_clean(params)
    assert caught.value.code == "invalid_notification_params"
    assert list(caught.value.fields) == [field]


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        event_get("rule_fired")
    assert caught.value.code == "unknown_notification_event"
