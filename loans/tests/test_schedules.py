"""Schedules: exact worked examples and properties that hold for every loan."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from loanproject.core.errors import DomainError
from loanproject.core.money import to_cents
from loans.schedules import Frequency, Method, annuity_payment, build_schedule, flat_interest, periodic_rate

SUNDAY = date(2026, 1, 4)


def rows(schedule):
    return [(i.sequence, i.due_date, i.principal, i.interest, i.amount, i.balance_after) for i in schedule]


def test_worked_example_weekly_annuity_at_ten_percent():
    schedule = build_schedule(principal=Decimal("1500.00"), annual_rate_percent=Decimal("10"), installment_count=10, start=SUNDAY)

    assert rows(schedule)[:2] == [
        (1, date(2026, 1, 4), Decimal("148.71"), Decimal("2.88"), Decimal("151.59"), Decimal("1351.29")),
        (2, date(2026, 1, 11), Decimal("148.99"), Decimal("2.60"), Decimal("151.59"), Decimal("1202.30")),
    ]
    assert rows(schedule)[-1] == (10, date(2026, 3, 8), Decimal("151.31"), Decimal("0.29"), Decimal("151.60"), Decimal("0.00"))
    assert sum(i.principal for i in schedule) == Decimal("1500.00")
    assert sum(i.interest for i in schedule) == Decimal("15.91")


def test_zero_percent_splits_the_principal_and_the_last_absorbs_the_cent():
    schedule = build_schedule(principal=Decimal("1000.00"), annual_rate_percent=Decimal("0"), installment_count=3, start=SUNDAY)

    assert [(i.principal, i.interest) for i in schedule] == [
        (Decimal("333.33"), Decimal("0.00")), (Decimal("333.33"), Decimal("0.00")), (Decimal("333.34"), Decimal("0.00")),
    ]


def test_equal_principal_pays_interest_on_the_declining_balance():
    schedule = build_schedule(
        principal=Decimal("1000.00"), annual_rate_percent=Decimal("5.2"), installment_count=4, start=SUNDAY,
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
    (only,) = build_schedule(principal=Decimal(balance), annual_rate_percent=Decimal("2"), installment_count=1, start=SUNDAY)

    assert only.interest == Decimal(expected)


def test_monthly_uses_the_rate_over_twelve_and_calendar_months():
    schedule = build_schedule(
        principal=Decimal("1200.00"), annual_rate_percent=Decimal("12"), installment_count=3, start=date(2026, 1, 25),
        frequency=Frequency.MONTHLY, method=Method.EQUAL_PRINCIPAL,
    )

    assert [(i.due_date, i.interest) for i in schedule] == [
        (date(2026, 1, 25), Decimal("12.00")), (date(2026, 2, 25), Decimal("8.00")), (date(2026, 3, 25), Decimal("4.00")),
    ]


def test_biweekly_is_every_other_sunday_at_the_rate_over_26():
    schedule = build_schedule(
        principal=Decimal("2600.00"), annual_rate_percent=Decimal("10"), installment_count=2, start=SUNDAY,
        frequency=Frequency.BIWEEKLY, method=Method.EQUAL_PRINCIPAL,
    )

    assert [(i.due_date, i.interest) for i in schedule] == [(SUNDAY, Decimal("10.00")), (date(2026, 1, 18), Decimal("5.00"))]


def test_flat_interest_is_on_the_original_principal_for_the_whole_term():
    schedule = build_schedule(
        principal=Decimal("1000.00"), annual_rate_percent=Decimal("12"), installment_count=3, start=SUNDAY,
        frequency=Frequency.MONTHLY, method=Method.FLAT,
    )

    # 1000 * 12% * 3/12 = 30.00 over three months
    assert [(i.principal, i.interest) for i in schedule] == [
        (Decimal("333.33"), Decimal("10.00")), (Decimal("333.33"), Decimal("10.00")), (Decimal("333.34"), Decimal("10.00")),
    ]


def test_a_schedule_that_would_repay_nothing_is_refused():
    with pytest.raises(DomainError, match="would repay no principal"):
        build_schedule(principal=Decimal("0.13"), annual_rate_percent=Decimal("0"), installment_count=8, start=SUNDAY, method=Method.EQUAL_PRINCIPAL)


amounts = st.integers(min_value=100_00, max_value=5_000_000_00).map(lambda cents: Decimal(cents) / 100)
rates = st.integers(min_value=0, max_value=20_000).map(lambda thousandths: Decimal(thousandths) / 1000)


@settings(max_examples=300, deadline=None)
@given(
    principal=amounts,
    rate=rates,
    count=st.integers(min_value=1, max_value=104),
    frequency=st.sampled_from(list(Frequency)),
    method=st.sampled_from(list(Method)),
)
def test_every_schedule_repays_exactly_the_principal(principal, rate, count, frequency, method):
    schedule = build_schedule(
        principal=principal, annual_rate_percent=rate, installment_count=count, start=SUNDAY, frequency=frequency, method=method
    )

    assert len(schedule) == count
    assert sum(i.principal for i in schedule) == principal
    assert schedule[-1].balance_after == Decimal("0.00")
    assert all(i.principal > 0 and i.interest >= 0 for i in schedule)
    assert all(i.amount == i.principal + i.interest for i in schedule)
    assert all(value == to_cents(value) for i in schedule for value in (i.principal, i.interest))
    assert [i.sequence for i in schedule] == list(range(1, count + 1))
    step = {Frequency.WEEKLY: timedelta(weeks=1), Frequency.BIWEEKLY: timedelta(weeks=2)}.get(frequency)
    expected_dates = [SUNDAY + (step * n if step else relativedelta(months=n)) for n in range(count)]
    assert [i.due_date for i in schedule] == expected_dates


@settings(max_examples=200, deadline=None)
@given(principal=amounts, rate=rates, count=st.integers(min_value=1, max_value=104), method=st.sampled_from([Method.ANNUITY, Method.EQUAL_PRINCIPAL]))
def test_declining_interest_is_the_rounded_rate_on_the_balance_before(principal, rate, count, method):
    schedule = build_schedule(principal=principal, annual_rate_percent=rate, installment_count=count, start=SUNDAY, method=method)
    weekly = periodic_rate(rate, Frequency.WEEKLY)

    balances_before = [principal] + [i.balance_after for i in schedule[:-1]]

    assert [i.interest for i in schedule] == [to_cents(balance * weekly) for balance in balances_before]
    if method == Method.ANNUITY:
        payment = annuity_payment(principal, weekly, count)
        assert all(i.amount == payment for i in schedule[:-1])


@settings(max_examples=200, deadline=None)
@given(principal=amounts, rate=rates, count=st.integers(min_value=1, max_value=104), frequency=st.sampled_from(list(Frequency)))
def test_flat_interest_adds_up_to_its_total(principal, rate, count, frequency):
    schedule = build_schedule(
        principal=principal, annual_rate_percent=rate, installment_count=count, start=SUNDAY, frequency=frequency, method=Method.FLAT
    )

    assert sum(i.interest for i in schedule) == flat_interest(principal, rate, count, frequency)
    assert max(i.interest for i in schedule) - min(i.interest for i in schedule) <= Decimal("0.01")
