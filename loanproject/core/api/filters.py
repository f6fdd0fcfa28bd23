"""Filter building blocks shared by every API."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, read in UTC. ISO 8601 (and Python) allow offsets up to 23:59,
    PostgreSQL only up to 15:59: passed on as given, +23:00 was a database error (a 500)."""

    default_error_messages = {"out_of_range": "This date-time is out of range once read in UTC."}

    def to_python(self, value: str | datetime | date | None) -> datetime | None:
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError(self.error_messages["out_of_range"], code="out_of_range") from None


class UtcDateTimeFilter(IsoDateTimeFilter):
    field_class = UtcDateTimeField
