"""Money is Decimal with two places, rounded half-even; floats are refused at the boundary."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, TypeVar

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


# Generic like DecimalField, so that django-stubs types a nullable MoneyField `Decimal | None`.
_ST = TypeVar("_ST", contravariant=True)
_GT = TypeVar("_GT", covariant=True)


class MoneyField(models.DecimalField[_ST, _GT]):
    """Decimal(14, 2): up to 999,999,999,999.99."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)


def allocate(amount: Decimal | int | str, weights: list[Decimal | int]) -> list[Decimal]:
    """Split `amount` into cents proportionally to `weights`, parts summing exactly to `amount`.

    Largest remainder: every part gets its share rounded down to the cent, and the cents left
    over go one each to the parts with the largest remainders (the earliest part on a tie).
    """
    total = to_decimal(amount)
    if total != total.quantize(CENT):
        raise ValueError(f"amount has more than two decimal places: {total}")
    if not weights or any(to_decimal(w) < 0 for w in weights) or not any(weights):
        raise ValueError("weights must be non-negative and not all zero")
    weight_sum = sum(to_decimal(w) for w in weights)
    sign = -1 if total < 0 else 1
    cents = int(abs(total) / CENT)
    exact = [Decimal(cents) * to_decimal(w) / weight_sum for w in weights]
    floors = [int(share) for share in exact]
    left = cents - sum(floors)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for index in by_remainder[:left]:
        floors[index] += 1
    return [sign * Decimal(part) * CENT for part in floors]


def split_evenly(amount: Decimal | int | str, parts: int) -> list[Decimal]:
    """`amount` in `parts` equal cents-exact parts; the first parts take the odd cents."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    return allocate(amount, [1] * parts)
