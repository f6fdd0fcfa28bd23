"""A date hierarchy that never reads the filtered set.

Django's drill-down reads the MIN and MAX of the field over the filtered list, then lists the
years (months, days) that hold rows with `SELECT DISTINCT date_trunc(...)` over every row of it.
On a big table with a filter or a search both scan. Here the list reads the MIN and MAX of the
field over the whole table once (the two ends of its index: no scan), and offers every year,
month or day between them, within the period already chosen. A link may lead to an empty period,
never miss one. The drill-down itself (`?field__year=...&field__month=...`) is Django's: a range
on the indexed field.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db.models import Max, Min, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property

Bounds = tuple[Any, Any]


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


def _local_date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value  # type: ignore[no-any-return]


class BoundedDatesQuerySet(QuerySet[Any]):
    """Answers the date hierarchy's questions (the field's MIN and MAX, `dates()`, `datetimes()`)
    from `_hierarchy`: the field's name, its bounds over the whole table, and the period chosen."""

    _hierarchy: tuple[str, Callable[[], Bounds], tuple[datetime.date, datetime.date] | None]

    def _clone(self) -> Any:
        clone = super()._clone()  # type: ignore[misc]  # QuerySet._clone is private: its stub omits it
        clone._hierarchy = self._hierarchy
        return clone

    def _is_hierarchy_bounds(self, kwargs: dict[str, Any]) -> bool:
        field = self._hierarchy[0]
        if set(kwargs) != {"first", "last"}:
            return False
        first, last = kwargs["first"], kwargs["last"]
        return (
            isinstance(first, Min)
            and isinstance(last, Max)
            and [getattr(e, "name", None) for e in first.source_expressions + last.source_expressions] == [field] * 2
        )

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if not args and self._is_hierarchy_bounds(kwargs):
            first, last = self._hierarchy[1]()
            return {"first": first, "last": last}
        return super().aggregate(*args, **kwargs)

    def _periods(self, kind: str) -> list[datetime.date]:
        first, last = self._hierarchy[1]()
        if first is None:
            return []
        low, high = _local_date(first), _local_date(last)
        chosen = self._hierarchy[2]
        if chosen is not None:
            low, high = max(low, chosen[0]), min(high, chosen[1])
        return periods_between(low, high, kind) if low <= high else []

    def dates(self, field_name: str, kind: str, order: str = "ASC") -> Any:
        periods = self._periods(kind)
        return periods if order == "ASC" else periods[::-1]

    def datetimes(self, field_name: str, kind: str, order: str = "ASC", tzinfo: Any = None) -> Any:
        zone = tzinfo or timezone.get_current_timezone()
        periods = [datetime.datetime.combine(day, datetime.time(), tzinfo=zone) for day in self._periods(kind)]
        return periods if order == "ASC" else periods[::-1]


_bounded_classes: dict[type, type] = {}


def with_bounded_dates(
    queryset: QuerySet[Any],
    *,
    field: str,
    bounds: Callable[[], Bounds],
    chosen: tuple[datetime.date, datetime.date] | None,
) -> QuerySet[Any]:
    """The same queryset, answering the date hierarchy from `bounds` (its class gains the mixin)."""
    base = type(queryset)
    if not issubclass(base, BoundedDatesQuerySet):
        if base not in _bounded_classes:
            _bounded_classes[base] = type(f"Bounded{base.__name__}", (BoundedDatesQuerySet, base), {})
        base = _bounded_classes[base]
    clone: Any = queryset._chain()  # type: ignore[attr-defined]  # private: the stub omits it
    clone.__class__ = base
    clone._hierarchy = (field, bounds, chosen)
    return clone  # type: ignore[no-any-return]


class BoundedDatesChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        if not self.date_hierarchy:
            return queryset
        return with_bounded_dates(
            queryset, field=self.date_hierarchy, bounds=lambda: self._table_bounds, chosen=self._chosen_period()
        )

    @cached_property
    def _table_bounds(self) -> Bounds:
        """MIN and MAX of the field over the whole table: one probe at each end of its index."""
        bounds = self.root_queryset.order_by().aggregate(first=Min(self.date_hierarchy), last=Max(self.date_hierarchy))
        return bounds["first"], bounds["last"]

    def _chosen_period(self) -> tuple[datetime.date, datetime.date] | None:
        """The year, month or day the drill-down has chosen (first and last day), if any."""
        field = self.date_hierarchy
        year, month, day = (self.params.get(f"{field}__{part}") for part in ("year", "month", "day"))
        try:
            if year and month and day:
                chosen = datetime.date(int(year), int(month), int(day))
                return chosen, chosen
            if year and month:
                first = datetime.date(int(year), int(month), 1)
                following = (first + datetime.timedelta(days=32)).replace(day=1)
                return first, following - datetime.timedelta(days=1)
            if year:
                return datetime.date(int(year), 1, 1), datetime.date(int(year), 12, 31)
        except ValueError:
            return None  # Django refuses the parameters itself (IncorrectLookupParameters)
        return None
