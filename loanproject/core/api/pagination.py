"""Pagination of API lists.

Small lists (a partner's budgets, goals, bank connections...) keep page numbers with a count.
Lists that grow without bound (applications, customers, finance transactions, driver loans) are
paged by cursor (keyset): a page is `WHERE (column, id) > (last value, last id) ORDER BY column, id
LIMIT n`, one index range scan whatever the depth, no COUNT and no OFFSET. Each ordering such a
list allows must be backed by an index on (partner, column, id) (or (column, id) for staff lists);
the id breaks ties, so a walk sees every row exactly once even when many rows share a value and
rows are inserted meanwhile.

The cursor is core.keyset's: signed (a changed cursor is a 400), good for its list only, and
naming the ordering it was made for. It carries only a position: the list's own filters (the
caller's partner first) still apply to every page, so no cursor reaches another partner's rows.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Field, Model, QuerySet, UniqueConstraint
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from loanproject.core import keyset

MAX_PAGE_SIZE = 500
AnyField = Field[Any, Any]


class StandardPagination(PageNumberPagination):
    """Page numbers and a count: for lists that stay small (a few thousand rows per partner)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class CursorPagination(BasePagination):
    """Keyset pagination: `?cursor=` (from the `next`/`previous` links), `?page_size=`, `?ordering=`.

    The ordering is one of the view's `ordering_fields`, ascending or descending (`-field`); the
    primary key is added as tiebreaker in the same direction, so one index (partner, field, id)
    serves both directions. A view's default `ordering` is [field] or [field, pk] likewise.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    cursor_query_param = "cursor"
    ordering_param = "ordering"

    def paginate_queryset(  # type: ignore[override]  # querysets only: a keyset needs SQL
        self, queryset: QuerySet[Model], request: Request, view: APIView | None = None
    ) -> list[Model]:
        if "page" in request.query_params:
            raise ValidationError(
                {"page": ["This list is paged by cursor, not page number: follow the `next` and `previous` links."]}
            )
        self.request = request
        self.page_size = self._page_size(request)
        self.model = queryset.model
        self.ordering = self._ordering(request, queryset, view)
        self.fields = [_field(self.model, name) for name in self.ordering]
        self.position, backwards = self._decode_cursor(request)

        walk_descending = self.ordering[0].startswith("-") != backwards
        columns = [field.attname for field in self.fields]
        if self.position:
            queryset = queryset.filter(keyset.after(columns, self.position, descending=walk_descending))
        walk = [f"-{column}" if walk_descending else column for column in columns]
        rows = list(queryset.order_by(*walk)[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if backwards:
            rows.reverse()
            self.has_next, self.has_previous = bool(self.position), more
        else:
            self.has_next, self.has_previous = more, bool(self.position)
        self.rows = rows
        return rows

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()), ("results", data)])
        )

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.rows:
            return None
        return self._link(self._position_of(self.rows[-1]), backwards=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        if not self.rows:  # past the last row (rows gone since): back from the same position
            return self._link(self.position, backwards=True)
        return self._link(self._position_of(self.rows[0]), backwards=True)

    # --- Ordering ------------------------------------------------------------------------------

    def _ordering(self, request: Request, queryset: QuerySet[Model], view: APIView | None) -> list[str]:
        pk = _pk_name(queryset.model)
        requested = request.query_params.get(self.ordering_param)
        if requested:
            terms = [term.strip() for term in requested.split(",") if term.strip()]
            allowed = set(getattr(view, "ordering_fields", None) or ())
            if len(terms) != 1 or terms[0].lstrip("-") not in allowed:
                choices = ", ".join(sorted(allowed))
                raise ValidationError({self.ordering_param: [f"Order by one of: {choices} (prefix - for descending)."]})
        else:
            terms = list(getattr(view, "ordering", None) or [f"-{pk}"])
        ordering = _with_tiebreaker(terms, queryset.model)
        for name in ordering:
            if _field(queryset.model, name).null:
                raise ImproperlyConfigured(f"Cursor ordering {name!r} is nullable; keyset pages need NOT NULL.")
        return ordering

    # --- Cursor --------------------------------------------------------------------------------

    def _decode_cursor(self, request: Request) -> tuple[tuple[object, ...], bool]:
        """(the position, backwards?) of the request's cursor; () from the start."""
        token = request.query_params.get(self.cursor_query_param)
        if not token:
            return (), False
        try:
            position, meta = keyset.decode_cursor(token, scope=request.path)
        except ValueError:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor: use the links we return."]}) from None
        if meta.get("o") != self.ordering:
            raise ValidationError(
                {self.cursor_query_param: ["This cursor was made for another ordering: start again without it."]}
            )
        return position, bool(meta.get("b"))

    def _position_of(self, row: Model) -> tuple[object, ...]:
        return tuple(getattr(row, field.attname) for field in self.fields)

    def _link(self, position: tuple[object, ...], *, backwards: bool) -> str:
        token = keyset.encode_cursor(position, scope=self.request.path, o=self.ordering, b=int(backwards))
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, token)

    def _page_size(self, request: Request) -> int:
        """?page_size=, at most max_page_size; anything but a positive number is the default
        (as on the page-numbered lists)."""
        try:
            size = int(request.query_params[self.page_size_query_param])
        except (KeyError, ValueError):
            return self.page_size
        return min(size, self.max_page_size) if size > 0 else self.page_size

    # --- Schema --------------------------------------------------------------------------------

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next page; null on the last one."},
                "previous": {**link, "description": "The page before; null on the first one."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link (no page numbers: "
                "`?page=` is a 400). Valid only with the ordering it was made for.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows a page, 1-{self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer"},
            },
        ]


def _with_tiebreaker(terms: list[str], model: type[Model]) -> list[str]:
    """[field] -> [field, pk] in the field's direction; a unique field needs none."""
    pk = _pk_name(model)
    first = terms[0]
    field = _field(model, first)
    if _is_unique(model, field):
        if len(terms) > 1:
            raise ImproperlyConfigured(f"Cursor ordering {terms} continues after the unique {first!r}.")
        return [first]
    tiebreaker = f"-{pk}" if first.startswith("-") else pk
    if terms[1:] not in ([], [tiebreaker]):
        raise ImproperlyConfigured(f"Cursor ordering {terms}: one field, then {tiebreaker!r}.")
    return [first, tiebreaker]


def _field(model: type[Model], term: str) -> AnyField:
    """The concrete column a cursor ordering term ("-field") names."""
    field = model._meta.get_field(term.lstrip("-"))
    if not isinstance(field, Field) or not field.concrete:
        raise ImproperlyConfigured(f"Cursor ordering {term!r} is not a column of {model.__name__}.")
    return field


def _is_unique(model: type[Model], field: AnyField) -> bool:
    """The primary key, a unique field, or a field an unconditional single-column unique constraint names."""
    if field.primary_key or field.unique:
        return True
    return any(
        isinstance(constraint, UniqueConstraint)
        and tuple(constraint.fields) == (field.name,)
        and constraint.condition is None
        and not constraint.expressions
        for constraint in model._meta.constraints
    )


def _pk_name(model: type[Model]) -> str:
    pk = model._meta.pk
    assert pk is not None  # every concrete model has one
    return pk.name
