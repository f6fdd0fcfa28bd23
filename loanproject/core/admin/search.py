"""Admin searches that always hit an index, declared once per admin as a routing table.

Django's own search runs every word of the term through every search field: `=field` becomes
`UPPER(col::text) = UPPER(term)` and a plain field `UPPER(col::text) LIKE UPPER('%term%')`, all
ORed, so no index serves it and the predicate is evaluated on every row (for the count, the date
hierarchy and the page). Here an admin declares `search_routes`; a term goes by its shape:

- a term some `Exact` route recognises (a UUID, a loan number, an e-mail, an identifier with a
  digit...) is compared with `=` on that route's indexed column, and the routes that recognise it
  are ORed (PostgreSQL combines their index scans). A route `via` a relation first reads the ids
  of the related rows that match (one indexed query), so the OR stays on this table's indexes;
- any other term is a name: each of its words (3 characters or more) must occur in one of the
  `Contains` routes' columns, case-insensitively. Django writes that `UPPER(col::text) LIKE
  UPPER('%word%')`, which a GIN trigram index on `UPPER(col)` serves (core.indexes.trigram_index);
  shorter words cannot use a trigram index and find nothing. A `Prefix` route (the start of a
  name, `istartswith`) needs only a b-tree (core.indexes.prefix_index) and is tried before them.

No route joins a to-many relation, so the results never need DISTINCT.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib import admin
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = object

MIN_WORD = 3  # a trigram index needs at least one whole trigram
MAX_RELATED_IDS = 1000  # an identifier matching more related rows than this is not an identifier
BIGINT_MAX = 2**63 - 1
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
HEX8_RE = re.compile(r"^[0-9a-fA-F]{8}$")

Shape = Callable[[str], object | None]


def as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def as_int(term: str) -> int | None:
    return int(term) if term.isascii() and term.isdigit() and int(term) <= BIGINT_MAX else None


def as_email(term: str) -> str | None:
    """E-mail as the services store it: stripped and lower case."""
    return term.lower() if EMAIL_RE.match(term) else None


def as_identifier(term: str) -> str | None:
    """A reference, key or code: one word with a digit in it (names have none), neither a UUID nor
    an e-mail (those have routes of their own)."""
    if any(c.isspace() for c in term) or not any(c.isdigit() for c in term):
        return None
    return None if as_uuid(term) is not None or as_email(term) is not None else term


class Route:
    lookup: str
    via: str | None = None

    def q(self, model: type[Model], term: str) -> Q | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Exact(Route):
    """`lookup = shape(term)` when `shape` recognises the term; `via` a forward relation: the ids of
    the related rows whose `lookup` matches."""

    lookup: str
    shape: Shape
    via: str | None = None

    def q(self, model: type[Model], term: str) -> Q | None:
        value = self.shape(term)
        if value is None:
            return None
        if self.via is None:
            return Q(**{self.lookup: value})
        related = model._meta.get_field(self.via).related_model
        assert isinstance(related, type)
        ids = list(
            related._default_manager.filter(**{self.lookup: value}).values_list("pk", flat=True)[:MAX_RELATED_IDS]
        )
        return Q(**{f"{self.via}__in": ids}) if ids else None


@dataclass(frozen=True)
class UuidPrefix(Route):
    """The first 8 hex digits of a UUID (what a list shows as the short id): a range on its index."""

    lookup: str

    def q(self, model: type[Model], term: str) -> Q | None:
        if not HEX8_RE.match(term):
            return None
        prefix = term.lower()
        low, high = uuid.UUID(prefix + "0" * 24), uuid.UUID(prefix + "f" * 24)
        return Q(**{f"{self.lookup}__gte": low, f"{self.lookup}__lte": high})


@dataclass(frozen=True)
class Prefix(Route):
    """The start of a name, served by `prefix_index(<column>)` (core.indexes)."""

    lookup: str

    def q(self, model: type[Model], term: str) -> Q | None:
        return Q(**{f"{self.lookup}__istartswith": term})


@dataclass(frozen=True)
class Contains(Route):
    """A word of a name, served by `trigram_index(<column>)`."""

    lookup: str

    def q(self, model: type[Model], term: str) -> Q | None:
        return Q(**{f"{self.lookup}__icontains": term}) if len(term) >= MIN_WORD else None


def route_search(model: type[Model], routes: Sequence[Route], term: str) -> Q | None:
    """The condition for `term`, or None when no route can take it (the search finds nothing)."""
    term = term.strip()
    exact = [q for route in routes if isinstance(route, Exact | UuidPrefix) for q in [route.q(model, term)] if q]
    if exact:
        return reduce(or_, exact)
    prefixes = [q for route in routes if isinstance(route, Prefix) for q in [route.q(model, term)] if q]
    if prefixes:
        return reduce(or_, prefixes)
    names = [route for route in routes if isinstance(route, Contains)]
    words = term.split()
    if not names or not words or any(len(word) < MIN_WORD for word in words):
        return None
    return reduce(and_, (reduce(or_, (Q(**{f"{r.lookup}__icontains": word}) for r in names)) for word in words))


class IndexedSearchMixin(_ModelAdmin):
    """Searches by `search_routes` (see the module docstring) instead of `search_fields`."""

    search_routes: ClassVar[Sequence[Route]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Shown, and checked by autocomplete_fields elsewhere; the routes decide what a term finds.
        cls.search_fields = [
            f"{route.via}__{route.lookup}" if route.via else route.lookup for route in cls.search_routes
        ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not search_term.strip():
            return queryset, False
        condition = route_search(queryset.model, self.search_routes, search_term)
        return (queryset.filter(condition) if condition is not None else queryset.none()), False
