"""The business week: Sunday to Saturday on the loans time zone (America/New_York)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone


def business_today() -> date:
    return timezone.localdate(timezone=ZoneInfo(settings.LOANS_TIME_ZONE))


def is_sunday(day: date) -> bool:
    return day.weekday() == 6


def week_containing(day: date) -> tuple[date, date]:
    """(Sunday, Saturday) of the week that contains `day`."""
    sunday = day - timedelta(days=(day.weekday() + 1) % 7)
    return sunday, sunday + timedelta(days=6)


def current_week() -> tuple[date, date]:
    return week_containing(business_today())


def validate_week(period_start: date, period_end: date) -> None:
    if not is_sunday(period_start):
        raise ValidationError({"period_start": [f"{period_start} is a {period_start:%A}; a period starts on a Sunday."]})
    if period_end != period_start + timedelta(days=6):
        raise ValidationError({"period_end": [f"The period ends on the Saturday after it starts ({period_start + timedelta(days=6)})."]})
