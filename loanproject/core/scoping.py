"""The rows a partner may see (`via`: the lookup path from a row to its partner); all for staff."""

from typing import TypeVar

from django.db.models import Model, QuerySet

_M = TypeVar("_M", bound=Model)


def visible_to(queryset: QuerySet[_M], partner: Model | None, *, via: str = "partner") -> QuerySet[_M]:
    return queryset if partner is None else queryset.filter(**{via: partner})
