"""Validation and normalisation of finance inputs, shared by models, services, the CSV importer
and the API serializers, so that every door applies the same rules."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.core.exceptions import ValidationError

CATEGORY_MAX_LENGTH = 64
CATEGORY_KEY_RE = re.compile(r"^[a-z0-9_]*$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_NOT_A_KEY_CHAR = re.compile(r"[^a-z0-9]+")

CENT = Decimal("0.01")
# Largest amount a MoneyField (Decimal 14, 2) holds.
MAX_AMOUNT = Decimal("999999999999.99")

# Inflows in these categories are income (salary, benefits...); see selectors.estimated_monthly_incomes.
INCOME_CATEGORIES = frozenset(
    {"income", "payroll", "salary", "wages", "pension", "benefits", "self_employment"}
)
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


def validate_category_key(value: str) -> None:
    if not CATEGORY_KEY_RE.match(value or "") or len(value) > CATEGORY_MAX_LENGTH:
        raise ValidationError(
            "A category is lower-case letters, digits and underscores, e.g. food_drink.", code="invalid"
        )


def validate_currency(value: str) -> None:
    if not CURRENCY_RE.match(value or ""):
        raise ValidationError("Currency is a three-letter ISO 4217 code, e.g. USD.", code="invalid")


_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,2})?")


def parse_amount(value: object, *, what: str = "amount") -> Decimal:
    """An exact money amount: at most two decimal places, never a float, never rounded."""
    if type(value) is str and _PLAIN_AMOUNT.fullmatch(value):
        return Decimal(value).quantize(CENT)  # the common case, already known to be valid
    if isinstance(value, float):
        raise ValidationError(f"{what} must be a decimal string, not a float.", code="invalid")
    if isinstance(value, Decimal):
        amount = value
    else:
        text = str(value).strip().replace(",", "") if value is not None else ""
        if not text:
            raise ValidationError(f"{what} is required.", code="required")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"{what} {text!r} is not a number.", code="invalid") from None
    if not amount.is_finite():
        raise ValidationError(f"{what} must be a finite number.", code="invalid")
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(CENT):
        raise ValidationError(f"{what} has more than two decimal places.", code="invalid")
    if abs(amount) > MAX_AMOUNT:
        raise ValidationError(f"{what} is too large.", code="invalid")
    return amount.quantize(CENT)


def parse_iso_date(value: object, *, what: str = "date") -> date:
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        raise ValidationError(f"{what} is required.", code="required")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not a date (YYYY-MM-DD).", code="invalid") from None


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
