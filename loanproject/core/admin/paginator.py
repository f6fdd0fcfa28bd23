"""Admin pagination that neither counts nor walks big tables on every page view.

- The count: COUNT(*) for small lists; for a list PostgreSQL expects to be big (its planner's
  estimate, from `pg_class` for a whole table, from EXPLAIN for a filtered one, at least
  ESTIMATE_ABOVE_ROWS) the estimate, which costs no scan. The page links are then approximate:
  the last pages may be short or empty.
- A deep page (`?p=2000`): OFFSET makes PostgreSQL fetch and discard every row before the page.
  From DEFERRED_JOIN_FROM rows on, the page first reads only the primary keys of its rows (an
  index-only scan of the ordering's index, when one matches the list's ordering), then loads
  those rows by primary key.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from .dates import BoundedDatesChangeList

ESTIMATE_ABOVE_ROWS = 50_000
DEFERRED_JOIN_FROM = 1_000


def estimated_row_count(queryset: QuerySet[Any]) -> int | None:
    """PostgreSQL's planner estimate for an unfiltered table, None for a filtered one."""
    if queryset.query.where:
        return None
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else None


def planned_row_count(queryset: QuerySet[Any]) -> int:
    """The planner's estimate of how many rows a (filtered) queryset returns: no row is read."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator[Any]):
    """COUNT(*) for small lists; the planner's estimate for big ones; deep pages by primary key."""

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet) and not self.object_list.query.is_empty():
            estimate = estimated_row_count(self.object_list)
            if estimate is None and self.object_list.query.where:
                estimate = planned_row_count(self.object_list)
            if estimate is not None and estimate >= ESTIMATE_ABOVE_ROWS:
                return estimate
        return super().count

    def page(self, number: int | str) -> Page[Any]:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if not isinstance(self.object_list, QuerySet) or bottom < DEFERRED_JOIN_FROM:
            return super().page(number)
        rows = self.object_list
        keys = list(rows.values_list("pk", flat=True)[bottom : bottom + self.per_page])
        by_key = {row.pk: row for row in rows.filter(pk__in=keys)}
        rows_of_page = [by_key[key] for key in keys if key in by_key]
        return Page(rows_of_page, number, self)


class LargeTableAdminMixin:
    """For changelists of tables that grow without bound: estimated counts, deep pages by key, a
    date hierarchy from MIN/MAX (core.admin.dates)."""

    paginator: ClassVar[type] = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BoundedDatesChangeList
