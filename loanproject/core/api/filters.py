"""Filter building blocks shared by every API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.views import APIView


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


class StrictOrderingFilter(OrderingFilter):
    """`?ordering=` a list does not offer is a 400 naming the choices (DRF ignores it silently,
    and the caller reads rows in an order it did not ask for)."""

    def remove_invalid_fields(
        self, queryset: QuerySet[Any], fields: Iterable[str], view: APIView, request: Request
    ) -> list[str]:
        valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        terms = [term for term in fields if term]
        if any(term.lstrip("-") not in valid for term in terms):
            raise ApiValidationError(
                {self.ordering_param: [f"Order by one of: {', '.join(sorted(valid))} (prefix - for descending)."]}
            )
        return terms
