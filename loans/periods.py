"""The business week (Sunday to Saturday on the loans time zone, America/New_York) and the range
of dates the loans accept.

Every door bounds the dates it is given to BUSINESS_DATES (1970-01-01 .. 2200-12-31) with
`business_date_validator` (serializers, forms) or `validate_business_date` (services, commands):
date arithmetic near date.min/date.max would overflow, and no loan, posting or report needs a
date outside that range.

What can be billed, and when (one rule each, checked by the services every door calls):
- A week is posted once it has begun in the loans time zone: a week after the current one is
  refused (`validate_week_started`); the week turns at Sunday 00:00 New York time, not UTC.
- A posting week lies whole within BUSINESS_DATES, so the last day any posting can bill is
  LAST_POSTABLE_DATE (the Saturday of the last such week). A loan whose schedule would end after
  it could never be billed whole and is refused at booking (`validate_schedule_end`).
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from loanproject.core.errors import DomainError

EARLIEST_BUSINESS_DATE = date(1970, 1, 1)
LATEST_BUSINESS_DATE = date(2200, 12, 31)
# The Saturday on or before LATEST_BUSINESS_DATE (Monday is 0, Saturday 5).
LAST_POSTABLE_DATE = LATEST_BUSINESS_DATE - timedelta(days=(LATEST_BUSINESS_DATE.weekday() - 5) % 7)


def business_today() -> date:
    return timezone.localdate(timezone=ZoneInfo(settings.LOANS_TIME_ZONE))


def out_of_range_message(day: date) -> str:
    return f"Enter a date between {EARLIEST_BUSINESS_DATE} and {LATEST_BUSINESS_DATE}, got {day}."


def is_business_date(day: date) -> bool:
    return EARLIEST_BUSINESS_DATE <= day <= LATEST_BUSINESS_DATE


def business_date_validator(day: date) -> None:
    """A field validator (DRF and Django forms both accept it)."""
    if not is_business_date(day):
        raise ValidationError(out_of_range_message(day), code="date_out_of_range")


def validate_business_date(day: date, *, field: str) -> date:
    """Services and commands: a DomainError naming the field (400 in the API)."""
    if not is_business_date(day):
        message = out_of_range_message(day)
        raise DomainError(message, code="date_out_of_range", fields={field: [message]})
    return day


def is_sunday(day: date) -> bool:
    return day.weekday() == 6


def week_containing(day: date, *, field: str = "week") -> tuple[date, date]:
    """(Sunday, Saturday) of the week that contains `day`."""
    validate_business_date(day, field=field)
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    return sunday, sunday + timedelta(days=6)


def current_week() -> tuple[date, date]:
    return week_containing(business_today())


def validate_week(period_start: date, period_end: date) -> None:
    """A week that can be posted: within BUSINESS_DATES, Sunday to Saturday, already begun."""
    validate_business_date(period_start, field="period_start")
    validate_business_date(period_end, field="period_end")
    if not is_sunday(period_start):
        raise ValidationError(
            {"period_start": [f"{period_start} is a {period_start:%A}; a period starts on a Sunday."]}
        )
    if period_end != period_start + timedelta(days=6):
        raise ValidationError(
            {"period_end": [f"The period ends on the Saturday after it starts ({period_start + timedelta(days=6)})."]}
        )
    validate_week_started(period_start, field="period_start")


def validate_week_started(period_start: date, *, field: str) -> None:
    """Refuse a week after the current business week: its installments are not due yet."""
    this_sunday = current_week()[0]
    if period_start > this_sunday:
        message = (
            f"The week of {period_start} has not started yet in {settings.LOANS_TIME_ZONE} (this week started on "
            f"{this_sunday}); a week is posted once it has begun."
        )
        raise DomainError(message, code="week_not_started", fields={field: [message]})


def posting_week(day: date, *, field: str = "week") -> tuple[date, date]:
    """The week of `day` for a door that takes any day of the week to post: refused, naming the
    door's field, if out of range or not started (the services check the same again)."""
    period_start, period_end = week_containing(day, field=field)
    validate_week_started(period_start, field=field)
    return period_start, period_end


def validate_schedule_end(last_due: date, *, field: str = "start_week") -> None:
    """Refuse a schedule whose last installment no posting could ever bill."""
    if last_due > LAST_POSTABLE_DATE:
        message = (
            f"The last installment would be due on {last_due}, after {LAST_POSTABLE_DATE}, the last day a weekly "
            "posting can bill; start earlier or book fewer installments."
        )
        raise DomainError(message, code="date_out_of_range", fields={field: [message]})
