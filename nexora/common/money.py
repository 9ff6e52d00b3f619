"""Fiat money parsing: Decimal at an explicit quantum, never float.

``money_parse`` is the single gate through which an amount from outside (API body, admin form,
command line) becomes a ``Decimal``. It refuses floats outright (a float has already lost the
amount) and reports each way an amount can be wrong with its own stable code, so a client can
tell "too many decimals" from "not a number".
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings

from nexora.common.errors import ValidationFailed

_PLAIN_DECIMAL = re.compile(r"^-?\d{1,40}(\.\d{1,40})?$")


def currency_quantum(currency: str) -> Decimal:
    """The smallest unit of an account currency; ``unknown_currency`` if not supported."""
    try:
        return Decimal(settings.NEXORA_CURRENCIES[currency])
    except (KeyError, TypeError):
        raise ValidationFailed(
            f"Currency {currency!r} is not supported.",
            code="unknown_currency",
            fields={"currency": [{"code": "unknown_currency", "message": "Unsupported currency."}]},
        ) from None


def _invalid(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [{"code": code, "message": message}]})


def _places(quantum: Decimal) -> int:
    exponent = quantum.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


def money_parse(value: object, *, currency: str, field: str = "amount") -> Decimal:
    """Parse a positive amount in ``currency``; exact, at most the currency's decimals."""
    quantum = currency_quantum(currency)
    if isinstance(value, (bool, float)) or not isinstance(value, (str, int, Decimal)):
        raise _invalid(field, "invalid_amount", 'Send the amount as a decimal string, e.g. "12.50".')
    text = str(value).strip()
    if not _PLAIN_DECIMAL.match(text):  # no exponents, NaN, Infinity, thousands separators
        raise _invalid(field, "invalid_amount", "The amount is not a plain decimal number.")
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise _invalid(field, "invalid_amount", "The amount is not a number.") from None
    if amount <= 0:
        raise _invalid(field, "amount_not_positive", "The amount must be greater than zero.")
    if amount > Decimal(settings.NEXORA_MAX_AMOUNT):
        raise _invalid(field, "amount_too_large", f"The amount exceeds {settings.NEXORA_MAX_AMOUNT}.")
    if amount != amount.quantize(quantum):
        raise _invalid(
            field,
            "too_many_decimals",
            f"{currency} amounts have at most {_places(quantum)} decimals.",
        )
    return amount.quantize(quantum)


def money_str(amount: Decimal, *, currency: str) -> str:
    """Render an amount at its currency's quantum ("12.50"), as the API does."""
    return str(amount.quantize(currency_quantum(currency)))
