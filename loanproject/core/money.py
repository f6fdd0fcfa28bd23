"""Money is Decimal with two places, rounded half-even; floats are refused at the boundary."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from django.db import models

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Exact conversion of a money input; floats are rejected because they are already inexact."""
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a Decimal, int or string")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return result


def to_cents(value: Decimal | int | str) -> Decimal:
    """Round to cents with banker's rounding (ROUND_HALF_EVEN)."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


class MoneyField(models.DecimalField):
    """Decimal(14, 2): up to 999,999,999,999.99."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)
