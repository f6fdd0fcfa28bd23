from decimal import Decimal

import pytest

from loanproject.core.money import to_cents, to_decimal


@pytest.mark.parametrize(
    "value, expected",
    [("0.125", "0.12"), ("0.135", "0.14"), ("2.5", "2.50"), (7, "7.00"), ("-0.125", "-0.12")],
)
def test_to_cents_rounds_half_to_even(value, expected):
    assert to_cents(value) == Decimal(expected)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        to_decimal(0.1)


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity"])
def test_non_amounts_are_refused(value):
    with pytest.raises(ValueError):
        to_decimal(value)
