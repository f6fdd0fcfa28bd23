"""Calendar arithmetic for budgets, goals and monthly reports (pure functions, no queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from .models import BudgetPeriod


@dataclass(frozen=True)
class DateRange:
    """Days from `start` to `end`, both inclusive."""

    start: date
    end: date

    @property
    def end_exclusive(self) -> date:
        return self.end + timedelta(days=1)


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    return day + relativedelta(months=months)


def full_months_before(as_of: date, months: int) -> DateRange:
    """The `months` whole calendar months before as_of's month: for 2026-05-17 and 3 months,
    2026-02-01 to 2026-04-30. The current, unfinished month never counts."""
    if months < 1:
        raise ValueError("months must be at least 1")
    end_exclusive = first_of_month(as_of)
    return DateRange(start=add_months(end_exclusive, -months), end=end_exclusive - timedelta(days=1))


def months_until(as_of: date, target: date) -> int:
    """Monthly contributions left before `target`, counting a started month as one:
    2026-01-15 -> 2026-07-15 is 6, -> 2026-07-16 is 7. Zero once the target date has passed."""
    if target < as_of:
        return 0
    months = (target.year - as_of.year) * 12 + (target.month - as_of.month)
    if target.day > as_of.day:
        months += 1
    return max(months, 1)


def _period_step(period: str, count: int) -> relativedelta:
    if period == BudgetPeriod.WEEKLY:
        return relativedelta(weeks=count)
    if period == BudgetPeriod.MONTHLY:
        return relativedelta(months=count)
    if period == BudgetPeriod.ANNUAL:
        return relativedelta(years=count)
    raise ValueError(f"unknown budget period {period!r}")


def _period_start(period: str, start_date: date, index: int) -> date:
    """Start of period `index`; date.max stands for a start beyond the calendar (year 9999)."""
    try:
        return start_date + _period_step(period, index)
    except (OverflowError, ValueError):
        return date.max


def budget_period_containing(*, period: str, start_date: date, end_date: date | None, on: date) -> DateRange | None:
    """The budget period that contains `on`, or None when the budget does not run that day.

    Periods are counted from start_date (each computed from the start, so a budget starting on
    the 31st runs 31 Jan - 27 Feb, 28 Feb - 30 Mar, 31 Mar - ...) and the last one is cut at
    end_date, or at the calendar's last day.
    """
    if on < start_date or (end_date is not None and on > end_date):
        return None
    # An estimate of the index, then a walk of at most a step or two to the exact period.
    days_per_period: dict[str, int] = {BudgetPeriod.WEEKLY: 7, BudgetPeriod.MONTHLY: 31, BudgetPeriod.ANNUAL: 366}
    approx_days = days_per_period[period]
    index = max((on - start_date).days // approx_days - 1, 0)
    while (next_start := _period_start(period, start_date, index + 1)) <= on and next_start != date.max:
        index += 1
    while index > 0 and _period_start(period, start_date, index) > on:
        index -= 1
    start = _period_start(period, start_date, index)
    next_start = _period_start(period, start_date, index + 1)
    end = date.max if next_start == date.max else next_start - timedelta(days=1)
    if end_date is not None and end > end_date:
        end = end_date
    return DateRange(start=start, end=end)
