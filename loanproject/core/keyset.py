"""Keyset (seek) reads: the next chunk of an ordered query starts after the last row read, so
reading a million rows in chunks costs one index range per chunk, never an OFFSET walk, and
holds no cursor open between chunks."""

from __future__ import annotations

import base64
import binascii
import json
import operator
from collections.abc import Sequence
from datetime import date
from functools import reduce

from django.db.models import Q


def after(fields: Sequence[str], values: Sequence[object]) -> Q:
    """Rows strictly after `values` in the ascending order of `fields` (unique together).

    `fields[0] >= v0` is implied by the rest and is said anyway: it lets PostgreSQL start an index
    range scan at v0 instead of reading an OR of conditions over the whole table."""
    if not fields or len(fields) != len(values):
        raise ValueError("one value per ordering field")
    later = [
        Q(**dict(zip(fields[:index], values[:index], strict=True)), **{f"{field}__gt": values[index]})
        for index, field in enumerate(fields)
    ]
    return Q(**{f"{fields[0]}__gte": values[0]}) & reduce(operator.or_, later)


def encode_cursor(values: Sequence[object]) -> str:
    """An opaque, URL-safe cursor for a keyset position (dates, strings and whole numbers)."""
    tagged: list[list[object]] = []
    for value in values:
        if isinstance(value, date):
            tagged.append(["d", value.isoformat()])
        elif isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"a cursor holds dates, strings and whole numbers, not {type(value).__name__}")
        else:
            tagged.append(["i" if isinstance(value, int) else "s", value])
    return base64.urlsafe_b64encode(json.dumps(tagged, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[object, ...]:
    """The keyset position of `encode_cursor`; ValueError if it was not made there."""
    try:
        tagged = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = tuple(
            date.fromisoformat(value) if tag == "d" else int(value) if tag == "i" else str(value)
            for tag, value in tagged
            if tag in ("d", "i", "s")
        )
        if len(values) != len(tagged) or not values:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor this list gave") from None
    return values
