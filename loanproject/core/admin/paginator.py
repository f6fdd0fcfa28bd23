"""Admin pagination that does not count big tables on every page view."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

ESTIMATE_ABOVE_ROWS = 50_000


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


class EstimatedCountPaginator(Paginator[Any]):
    """COUNT(*) for filtered or small lists; the planner's estimate for big unfiltered ones."""

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            estimate = estimated_row_count(self.object_list)
            if estimate is not None and estimate >= ESTIMATE_ABOVE_ROWS:
                return estimate
        return super().count


class LargeTableAdminMixin:
    """For changelists of tables that grow without bound."""

    paginator: ClassVar[type] = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
