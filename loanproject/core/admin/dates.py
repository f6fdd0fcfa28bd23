"""A date hierarchy that never scans the filtered set.

Django's drill-down lists the years (months, days) that hold rows with `SELECT DISTINCT
date_trunc(...)` over every row of the filtered list. Here the list's queryset answers `dates()`
and `datetimes()` from the MIN and MAX of the field alone (two ends of its index) and offers every
year, month or day between them: a link may lead to an empty period, never to a missing one. The
drill-down itself (`?field__year=...&field__month=...`) is Django's, a range on the indexed field.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db.models import Max, Min, QuerySet
from django.http import HttpRequest
from django.utils import timezone


def periods_between(first: datetime.date, last: datetime.date, kind: str) -> list[datetime.date]:
    """The first day of every year, month or day from `first` to `last`, in order."""
    if kind == "year":
        return [datetime.date(year, 1, 1) for year in range(first.year, last.year + 1)]
    if kind == "month":
        months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
        return [datetime.date(month // 12, month % 12 + 1, 1) for month in months]
    if kind == "day":
        return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]
    raise ValueError(f"no date hierarchy by {kind}")


class BoundedDatesQuerySet(QuerySet[Any]):
    """`dates()`/`datetimes()` from the field's MIN and MAX (what the date hierarchy asks for)."""

    def _bounds(self, field_name: str) -> tuple[Any, Any]:
        bounds = self.order_by().aggregate(first=Min(field_name), last=Max(field_name))
        return bounds["first"], bounds["last"]

    def dates(self, field_name: str, kind: str, order: str = "ASC") -> Any:
        first, last = self._bounds(field_name)
        periods = periods_between(first, last, kind) if first is not None else []
        return periods if order == "ASC" else periods[::-1]

    def datetimes(self, field_name: str, kind: str, order: str = "ASC", tzinfo: Any = None) -> Any:
        first, last = self._bounds(field_name)
        if first is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = (timezone.localtime(value, zone).date() for value in (first, last))
        periods = [
            datetime.datetime.combine(day, datetime.time(), tzinfo=zone) for day in periods_between(first, last, kind)
        ]
        return periods if order == "ASC" else periods[::-1]


_bounded_classes: dict[type, type] = {}


def with_bounded_dates(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The same queryset, answering the date hierarchy from MIN/MAX (its class gains the mixin)."""
    base = type(queryset)
    if issubclass(base, BoundedDatesQuerySet):
        return queryset
    if base not in _bounded_classes:
        _bounded_classes[base] = type(f"Bounded{base.__name__}", (BoundedDatesQuerySet, base), {})
    clone = queryset._chain()
    clone.__class__ = _bounded_classes[base]
    return clone


class BoundedDatesChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        return with_bounded_dates(super().get_queryset(request, exclude_parameters))
