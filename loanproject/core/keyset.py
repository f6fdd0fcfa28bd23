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
from django.db.models import F, Field, Func, Q, Value
from django.db.models.expressions import Combinable
from django.db.models.lookups import GreaterThan, LessThan

SALT = "loanproject.keyset"


def _row(expressions: Sequence[Combinable]) -> Func:
    """`(a, b)`: compared with another row as a whole, `(a, b) > (x, y)` is one index range condition."""
    return Func(*expressions, function="", output_field=Field())


def after(fields: Sequence[str], values: Sequence[object], *, descending: bool = False) -> Q:
    """Rows strictly after `values` in the order of `fields` (unique together, all in one direction).

    The leading column's bound is implied by the row comparison and said anyway: when the columns
    are in different tables (`driver__full_name`, then the loan's), no index holds them all, and
    it lets PostgreSQL start a range scan of the first one's index at v0."""
    if not fields or len(fields) != len(values):
        raise ValueError("one value per ordering field")
    bound = f"{fields[0]}__{'lte' if descending else 'gte'}"
    # The values' SQL types are inferred from their Python types (a date, a Decimal, ...).
    columns, position = _row([F(field) for field in fields]), _row([Value(value) for value in values])
    return Q((LessThan if descending else GreaterThan)(columns, position), **{bound: values[0]})


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
