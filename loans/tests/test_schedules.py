"""Schedules: exact worked examples and properties that hold for every loan."""

import math
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import event, given, settings
from hypothesis import strategies as st

from loanproject.core.errors import DomainError
from loans.schedules import Frequency, Method, build_schedule

SUNDAY = date(2026, 1, 4)


def rows(schedule):
    return [(i.sequence, i.due_date, i.principal, i.interest, i.amount, i.balance_after) for i in schedule]


def test_worked_example_weekly_annuity_at_ten_percent():
    schedule = build_schedule(
        principal=Decimal("1500.00"), annual_rate_percent=Decimal("10"), installment_count=10, start=SUNDAY
    )

    assert rows(schedule)[:2] == [
        (1, date(2026, 1, 4), Decimal("148.71"), Decimal("2.88"), Decimal("151.59"), Decimal("1351.29")),
        (2, date(2026, 1, 11), Decimal("148.99"), Decimal("2.60"), Decimal("151.59"), Decimal("1202.30")),
    ]
    assert rows(schedule)[-1] == (
        10,
        date(2026, 3, 8),
        Decimal("151.31"),
        Decimal("0.29"),
        Decimal("151.60"),
        Decimal("0.00"),
    )
    assert sum(i.principal for i in schedule) == Decimal("1500.00")
    assert sum(i.interest for i in schedule) == Decimal("15.91")


def test_zero_percent_splits_the_principal_and_the_last_absorbs_the_cent():
    schedule = build_schedule(
        principal=Decimal("1000.00"), annual_rate_percent=Decimal("0"), installment_count=3, start=SUNDAY
    )

    assert [(i.principal, i.interest) for i in schedule] == [
        (Decimal("333.33"), Decimal("0.00")),
        (Decimal("333.33"), Decimal("0.00")),
        (Decimal("333.34"), Decimal("0.00")),
    ]


def test_equal_principal_pays_interest_on_the_declining_balance():
    schedule = build_schedule(
        principal=Decimal("1000.00"),
        annual_rate_percent=Decimal("5.2"),
        installment_count=4,
        start=SUNDAY,
        method=Method.EQUAL_PRINCIPAL,
    )

    assert [(i.principal, i.interest, i.balance_after) for i in schedule] == [
        (Decimal("250.00"), Decimal("1.00"), Decimal("750.00")),
        (Decimal("250.00"), Decimal("0.75"), Decimal("500.00")),
        (Decimal("250.00"), Decimal("0.50"), Decimal("250.00")),
        (Decimal("250.00"), Decimal("0.25"), Decimal("0.00")),
    ]


@pytest.mark.parametrize("balance, expected", [("325.00", "0.12"), ("351.00", "0.14")])
def test_interest_is_rounded_half_to_even(balance, expected):
    # 325.00 * 2% / 52 = 0.125 exactly -> 0.12; 351.00 * 2% / 52 = 0.135 -> 0.14
    (only,) = build_schedule(
        principal=Decimal(balance), annual_rate_percent=Decimal("2"), installment_count=1, start=SUNDAY
    )

    assert only.interest == Decimal(expected)


def test_monthly_uses_the_rate_over_twelve_and_calendar_months():
    schedule = build_schedule(
        principal=Decimal("1200.00"),
        annual_rate_percent=Decimal("12"),
        installment_count=3,
        start=date(2026, 1, 25),
        frequency=Frequency.MONTHLY,
        method=Method.EQUAL_PRINCIPAL,
    )

    assert [(i.due_date, i.interest) for i in schedule] == [
        (date(2026, 1, 25), Decimal("12.00")),
        (date(2026, 2, 25), Decimal("8.00")),
        (date(2026, 3, 25), Decimal("4.00")),
    ]


def test_biweekly_is_every_other_sunday_at_the_rate_over_26():
    schedule = build_schedule(
        principal=Decimal("2600.00"),
        annual_rate_percent=Decimal("10"),
        installment_count=2,
        start=SUNDAY,
        frequency=Frequency.BIWEEKLY,
        method=Method.EQUAL_PRINCIPAL,
    )

    assert [(i.due_date, i.interest) for i in schedule] == [
        (SUNDAY, Decimal("10.00")),
        (date(2026, 1, 18), Decimal("5.00")),
    ]


def test_flat_interest_is_on_the_original_principal_for_the_whole_term():
    schedule = build_schedule(
        principal=Decimal("1000.00"),
        annual_rate_percent=Decimal("12"),
        installment_count=3,
        start=SUNDAY,
        frequency=Frequency.MONTHLY,
        method=Method.FLAT,
    )

    # 1000 * 12% * 3/12 = 30.00 over three months
    assert [(i.principal, i.interest) for i in schedule] == [
        (Decimal("333.33"), Decimal("10.00")),
        (Decimal("333.33"), Decimal("10.00")),
        (Decimal("333.34"), Decimal("10.00")),
    ]


def test_a_schedule_that_would_repay_nothing_is_refused():
    with pytest.raises(DomainError, match="would repay no principal"):
        build_schedule(
            principal=Decimal("0.13"),
            annual_rate_percent=Decimal("0"),
            installment_count=8,
            start=SUNDAY,
            method=Method.EQUAL_PRINCIPAL,
        )


# --- Properties over the whole allowed range -------------------------------------------------------
#
# Checked against exact rational arithmetic (Fraction), not against the schedule's own formulas.

PERIODS = {Frequency.WEEKLY: 52, Frequency.BIWEEKLY: 26, Frequency.MONTHLY: 12}
principals = st.one_of(
    st.integers(min_value=1, max_value=100_00),  # a cent up to 100.00: mostly too small for long terms
    st.integers(min_value=1, max_value=5_000_000_00),
).map(lambda cents: Decimal(cents) / 100)
rates = st.integers(min_value=0, max_value=20_000).map(lambda thousandths: Decimal(thousandths) / 1000)
counts = st.integers(min_value=1, max_value=520)


def cents_half_even(value: Fraction) -> Decimal:
    scaled = value * 100
    whole = math.floor(scaled)
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2):
        whole += 1
    return Decimal(whole) / 100


def exact_interest(balance: Decimal, rate: Decimal, frequency: str) -> Decimal:
    return cents_half_even(Fraction(balance) * Fraction(rate) / (100 * PERIODS[frequency]))


def surely_feasible(principal: Decimal, rate: Decimal, count: int, frequency: str) -> bool:
    """Enough principal that every installment repays at least a cent, whatever the rounding:
    the first principal part of an annuity, P / (n (1+r)^n) or more, exceeds the rounding drift
    of n periods, about a cent per period compounded (equal principal needs P >= 0.01 n^2)."""
    growth = (1 + float(rate) / 100 / PERIODS[frequency]) ** (count + 1)
    return float(principal) >= 0.02 * count * count * growth


@settings(max_examples=400, deadline=None)
@given(
    principal=principals,
    rate=rates,
    count=counts,
    frequency=st.sampled_from(list(Frequency)),
    method=st.sampled_from(list(Method)),
)
def test_every_schedule_in_the_allowed_range_repays_exactly_the_principal(principal, rate, count, frequency, method):
    try:
        schedule = build_schedule(
            principal=principal,
            annual_rate_percent=rate,
            installment_count=count,
            start=SUNDAY,
            frequency=frequency,
            method=method,
        )
    except DomainError as refused:
        event("refused")
        # Refused only where some installment could not repay a cent.
        assert not surely_feasible(principal, rate, count, frequency), (principal, rate, count, frequency, method)
        assert (refused.code, list(refused.fields)) == ("invalid", ["installment_count"])
        return
    event("built, over 100 installments" if count > 100 else "built")
    assert principal * 100 >= count  # n installments of at least a cent each

    assert len(schedule) == count
    assert [i.sequence for i in schedule] == list(range(1, count + 1))
    assert sum(i.principal for i in schedule) == principal
    assert all(i.principal >= Decimal("0.01") and i.interest >= 0 for i in schedule)
    assert all(i.amount == i.principal + i.interest for i in schedule)
    assert all(value == value.quantize(Decimal("0.01")) for i in schedule for value in (i.principal, i.interest))
    repaid = Decimal(0)
    for installment in schedule:
        repaid += installment.principal
        assert installment.balance_after == principal - repaid
    assert schedule[-1].balance_after == Decimal("0.00")
    step = {Frequency.WEEKLY: timedelta(weeks=1), Frequency.BIWEEKLY: timedelta(weeks=2)}.get(frequency)
    assert [i.due_date for i in schedule] == [
        SUNDAY + (step * n if step else relativedelta(months=n)) for n in range(count)
    ]

    if method == Method.FLAT:
        total = cents_half_even(Fraction(principal) * Fraction(rate) * count / (100 * PERIODS[frequency]))
        assert sum(i.interest for i in schedule) == total
        assert max(i.interest for i in schedule) - min(i.interest for i in schedule) <= Decimal("0.01")
    else:
        balances_before = [principal] + [i.balance_after for i in schedule[:-1]]
        assert [i.interest for i in schedule] == [
            exact_interest(balance, rate, frequency) for balance in balances_before
        ]
    # Every installment but the last is the same; the last absorbs the rounding.
    same = {Method.ANNUITY: "amount", Method.EQUAL_PRINCIPAL: "principal", Method.FLAT: "principal"}[method]
    assert len({getattr(i, same) for i in schedule[:-1]}) <= 1


@settings(max_examples=200, deadline=None)
@given(
    count=counts,
    rate=rates,
    frequency=st.sampled_from(list(Frequency)),
    method=st.sampled_from(list(Method)),
    cents=st.integers(min_value=1, max_value=519),
)
def test_fewer_cents_than_installments_is_refused(count, rate, frequency, method, cents):
    principal = Decimal(min(cents, count - 1) if count > 1 else 0) / 100

    with pytest.raises(DomainError) as refused:
        build_schedule(
            principal=principal,
            annual_rate_percent=rate,
            installment_count=count,
            start=SUNDAY,
            frequency=frequency,
            method=method,
        )

    # No cent at all is a bad principal; fewer cents than installments, too many installments.
    assert list(refused.value.fields) == (["principal"] if principal == 0 else ["installment_count"])


@pytest.mark.parametrize(
    "terms, field",
    [
        ({"installment_count": 0}, "installment_count"),
        ({"installment_count": 521}, "installment_count"),
        ({"installment_count": -3}, "installment_count"),
        ({"principal": Decimal("0.00")}, "principal"),
        ({"principal": Decimal("0.004")}, "principal"),
        ({"principal": Decimal("-100.00")}, "principal"),
        ({"principal": Decimal("NaN")}, "principal"),
        ({"annual_rate_percent": Decimal("-0.001")}, "annual_interest_rate"),
        ({"annual_rate_percent": Decimal("20.001")}, "annual_interest_rate"),
        ({"frequency": "daily"}, "frequency"),
        ({"method": "balloon"}, "method"),
        ({"start": date(9999, 12, 26), "installment_count": 2}, "start_week"),
        ({"start": date(9999, 1, 3), "installment_count": 520, "frequency": Frequency.MONTHLY}, "start_week"),
    ],
)
def test_invalid_terms_are_a_domain_error_naming_the_field(terms, field):
    base = {
        "principal": Decimal("1000.00"),
        "annual_rate_percent": Decimal("10"),
        "installment_count": 4,
        "start": SUNDAY,
    }

    with pytest.raises(DomainError) as refused:
        build_schedule(**{**base, **terms})

    assert list(refused.value.fields) == [field]
