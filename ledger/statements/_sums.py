"""Sums of legs as money: NULL (no leg) is zero, and the type is the book's money field."""

from __future__ import annotations

from typing import Any

from django.db.models import DecimalField, Sum, Value
from django.db.models.functions import Coalesce

from loanproject.core.money import ZERO

MONEY = DecimalField(max_digits=16, decimal_places=2)


def sum_money(expression: Any, **kwargs: Any) -> Coalesce:
    return Coalesce(Sum(expression, **kwargs), Value(ZERO), output_field=MONEY)
