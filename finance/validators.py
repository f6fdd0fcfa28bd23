"""Validation and normalisation of finance inputs, shared by models, services, the CSV importer
and the API serializers, so that every door applies the same rules."""

from __future__ import annotations

import re
from datetime import date
from decimal import Context, Decimal
from functools import lru_cache

from django.core.exceptions import ValidationError

CATEGORY_MAX_LENGTH = 64
_NOT_A_KEY_CHAR = re.compile(r"[^a-z0-9]+")

CENT = Decimal("0.01")
ZERO_CENTS = Decimal("0.00")
# Enough digits to quantize any amount up to MAX_AMOUNT, however many decimals it was given.
_WIDE = Context(prec=1000)
# Largest amount a MoneyField (Decimal 14, 2) holds.
MAX_AMOUNT = Decimal("999999999999.99")

# Inflows in these categories are income (salary, benefits...); see selectors.estimated_monthly_incomes.
INCOME_CATEGORIES = frozenset({"income", "payroll", "salary", "wages", "pension", "benefits", "self_employment"})
# Money moved between the customer's own accounts: neither income nor spending.
TRANSFER_CATEGORIES = frozenset({"transfer"})


@lru_cache(maxsize=4096)  # imports see the same few labels millions of times
def normalize_category(value: str | None) -> str:
    """Provider labels become stable keys: "Food & Drink" -> "food_drink", "" stays "" (none)."""
    key = _NOT_A_KEY_CHAR.sub("_", (value or "").strip().lower()).strip("_")
    if len(key) > CATEGORY_MAX_LENGTH:
        raise ValidationError(
            "Category is longer than %(max)s characters.", params={"max": CATEGORY_MAX_LENGTH}, code="invalid"
        )
    return key


# The common case, checked first: an optional minus, up to 12 digits, up to two decimals.
_SIMPLE_AMOUNT = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,2})?")
# Any plain decimal: a sign, digits (optionally grouped in thousands by commas, as bank exports
# write them) and at most two decimals. Exponents ("1e3"), "Infinity", ".5" and "5." are refused.
_PLAIN_AMOUNT = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?")
_TOO_PRECISE = re.compile(r"[+-]?[0-9,]+\.[0-9]{3,}")


def parse_amount(value: object, *, what: str = "amount") -> Decimal:
    """An exact money amount: a plain decimal with at most two decimal places, never a float,
    never rounded. Zero is an amount (providers report $0.00 authorisations); "-0" is that zero."""
    if type(value) is str and _SIMPLE_AMOUNT.fullmatch(value):
        # The common case, already known to be valid; `or ZERO_CENTS` turns -0.00 into 0.00.
        return Decimal(value).quantize(CENT) or ZERO_CENTS
    if isinstance(value, float):
        raise ValidationError(f"{what} must be a decimal string, not a float.", code="invalid")
    if isinstance(value, bool):
        raise ValidationError(f"{what} {value!r} is not a number.", code="invalid")
    if isinstance(value, Decimal):
        amount = value
        if not amount.is_finite():
            raise ValidationError(f"{what} must be a finite number.", code="invalid")
        if abs(amount) > MAX_AMOUNT:
            raise ValidationError(f"{what} is too large.", code="invalid")
        if amount != amount.quantize(CENT, context=_WIDE):
            raise ValidationError(f"{what} has more than two decimal places.", code="invalid")
    else:
        text = str(value).strip() if value is not None else ""
        if not text:
            raise ValidationError(f"{what} is required.", code="required")
        if not _PLAIN_AMOUNT.fullmatch(text):
            if _TOO_PRECISE.fullmatch(text):
                raise ValidationError(f"{what} has more than two decimal places.", code="invalid")
            raise ValidationError(f"{what} {text!r} is not a number.", code="invalid")
        amount = Decimal(text.replace(",", ""))
    if abs(amount) > MAX_AMOUNT:
        raise ValidationError(f"{what} is too large.", code="invalid")
    return amount.quantize(CENT) or ZERO_CENTS


# Dates outside these are typing errors (0202 for 2020, 9999 for "never"), and calendar
# arithmetic near year 9999 overflows; every date a partner or staff member enters is bounded.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)
DATE_RANGE_MESSAGE = f"Use a date from {MIN_DATE.isoformat()} to {MAX_DATE.isoformat()}."


def validate_date_in_range(value: date) -> None:
    if value is not None and not MIN_DATE <= value <= MAX_DATE:
        raise ValidationError(DATE_RANGE_MESSAGE, code="date_out_of_range")


def parse_iso_date(value: object, *, what: str = "date") -> date:
    if isinstance(value, date):
        day = value
    else:
        text = str(value or "").strip()
        if not text:
            raise ValidationError(f"{what} is required.", code="required")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"{what} {text!r} is not a date (YYYY-MM-DD).", code="invalid") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValidationError(f"{what} {day.isoformat()} is out of range. {DATE_RANGE_MESSAGE}", code="invalid")
    return day


# PostgreSQL text cannot hold NUL, and no encoding can write a lone surrogate (JSON "\ud800"):
# such a value would fail the whole chunk's INSERT, so the row is refused on its own instead.
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_unstorable_characters(value: str) -> bool:
    # Most text is ASCII: two C-level scans, the pattern only for the rest (1M-row imports).
    return "\x00" in value or (not value.isascii() and _SURROGATE.search(value) is not None)


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0", ""})


def parse_bool(value: object, *, what: str = "pending") -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"{what} {value!r} is not true or false.", code="invalid")
