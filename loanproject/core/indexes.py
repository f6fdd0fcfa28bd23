"""Index builders shared by the apps' models."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db.models import Index
from django.db.models.functions import Upper


def trigram_index(field: str, *, name: str) -> GinIndex:
    """A GIN trigram index on UPPER(field): it serves Django's `icontains`, which PostgreSQL runs
    as `UPPER(col::text) LIKE UPPER('%word%')` (the admin's name searches, core.admin.search).
    Needs the pg_trgm extension (core migration 0004)."""
    return GinIndex(OpClass(Upper(field), name="gin_trgm_ops"), name=name)


def prefix_index(field: str, *, name: str) -> Index:
    """A b-tree on UPPER(field) for `istartswith` (`UPPER(col::text) LIKE UPPER('word%')`): far
    cheaper to keep up to date than a trigram index on a table filled in bulk."""
    return Index(OpClass(Upper(field), name="text_pattern_ops"), name=name)
