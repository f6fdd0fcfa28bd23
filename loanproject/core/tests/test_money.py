from decimal import Decimal

import pytest

from loanproject.core.money import to_cents, to_decimal


@pytest.mark.parametrize(
    "value, expected", [("0.125", "0.12"), ("0.135", "0.14"), ("2.5", "2.50"), (7, "7.00"), ("-0.125", "-0.12")]
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


def test_allocate_gives_the_odd_cents_to_the_largest_remainders():
    from loanproject.core.money import allocate, split_evenly

    assert allocate("100.00", [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert allocate("10.00", [3, 7]) == [Decimal("3.00"), Decimal("7.00")]
    assert allocate("0.05", [1, 2]) == [Decimal("0.02"), Decimal("0.03")]
    assert split_evenly("-1.00", 3) == [Decimal("-0.34"), Decimal("-0.33"), Decimal("-0.33")]


def test_allocate_refuses_bad_input():
    from loanproject.core.money import allocate

    with pytest.raises(ValueError):
        allocate("1.001", [1])
    with pytest.raises(ValueError):
        allocate("1.00", [0, 0])
    with pytest.raises(TypeError):
        allocate(1.5, [1])


def test_allocate_always_adds_up():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from loanproject.core.money import allocate

    @settings(max_examples=300, deadline=None)
    @given(
        cents=st.integers(min_value=-(10**9), max_value=10**9),
        weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=30).filter(any),
    )
    def check(cents, weights):
        amount = Decimal(cents) / 100
        parts = allocate(amount, weights)
        assert sum(parts) == amount
        assert len(parts) == len(weights)
        exact = [amount * w / sum(weights) for w in weights]
        assert all(abs(part - share) < Decimal("0.01") for part, share in zip(parts, exact, strict=True))

    check()
