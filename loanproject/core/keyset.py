"""Keyset (seek) reads, defined once for the API's cursor lists and the reports' pages and exports:
the next page starts after the last row read, so a page costs one index range at any depth, never
an OFFSET walk, and no cursor is held open between pages.

The position travels as a signed cursor: it cannot be forged or edited, and one made for a list
(its scope) is refused by any other. It carries only a position, so the list's own filters still
apply to every page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core import signing
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, F, Func, Q, Value
from django.db.models.sql.compiler import SQLCompiler

SALT = "loanproject.keyset"


class RowCompare(Func):
    """`(a, b) > (%s, %s)`: a row comparison PostgreSQL runs as one index range condition."""

    output_field = BooleanField()

    def __init__(self, fields: Sequence[str], values: Sequence[object], operator: str) -> None:
        self.width = len(fields)
        self.operator = operator
        # The values' SQL types are inferred from their Python types (a date, a Decimal, ...).
        super().__init__(*[F(field) for field in fields], *[Value(value) for value in values])

    def as_sql(  # type: ignore[override]  # the template arguments of Func do not apply
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, list[Any]]:
        compiled = [compiler.compile(expression) for expression in self.get_source_expressions()]
        sqls = [sql for sql, _ in compiled]
        left, right = ", ".join(sqls[: self.width]), ", ".join(sqls[self.width :])
        return f"(({left}) {self.operator} ({right}))", [param for _, params in compiled for param in params]


def after(fields: Sequence[str], values: Sequence[object], *, descending: bool = False) -> Q:
    """Rows strictly after `values` in the order of `fields` (unique together, all in one direction).

    The leading column's bound is implied by the row comparison and said anyway: when the columns
    are in different tables (`driver__full_name`, then the loan's), no index holds them all, and
    it lets PostgreSQL start a range scan of the first one's index at v0."""
    if not fields or len(fields) != len(values):
        raise ValueError("one value per ordering field")
    bound = f"{fields[0]}__{'lte' if descending else 'gte'}"
    return Q(RowCompare(fields, values, "<" if descending else ">"), **{bound: values[0]})


# A position's values keep their type through the cursor (datetime first: it is a date).
_TYPES: dict[str, tuple[type, Callable[[str], object]]] = {
    "t": (datetime, datetime.fromisoformat),
    "d": (date, date.fromisoformat),
    "n": (Decimal, Decimal),
    "i": (int, int),
    "s": (str, str),
    "u": (UUID, UUID),
}


def _tagged(value: object) -> list[str]:
    for tag, (kind, _) in _TYPES.items():
        if isinstance(value, kind) and not isinstance(value, bool):
            return [tag, str(value)]
    raise TypeError(f"a cursor holds dates, times, numbers, strings and UUIDs, not {type(value).__name__}")


def encode_cursor(position: Sequence[object], *, scope: str, **meta: object) -> str:
    """A signed, URL-safe cursor for a keyset position (and `meta` its list needs), for `scope` only."""
    return signing.dumps({**meta, "p": [_tagged(value) for value in position]}, salt=f"{SALT}:{scope}")


def decode_cursor(cursor: str, *, scope: str) -> tuple[tuple[object, ...], dict[str, Any]]:
    """The position and meta of `encode_cursor`'s cursor; ValueError unless it was made for `scope`."""
    try:
        payload = signing.loads(cursor, salt=f"{SALT}:{scope}")
        return tuple(_TYPES[tag][1](text) for tag, text in payload.pop("p")), payload
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ValueError("not a cursor this list gave") from None
