"""The rows a partner may see (`via`: the lookup path from a row to its partner); all for staff."""

from django.db.models import Model, QuerySet


def visible_to(queryset: QuerySet, partner: Model | None, *, via: str = "partner") -> QuerySet:
    return queryset if partner is None else queryset.filter(**{via: partner})
