"""Keyset (seek) reads: the next chunk of an ordered query starts after the last row read, so
reading a million rows in chunks costs one index range per chunk, never an OFFSET walk, and
holds no cursor open between chunks."""

from __future__ import annotations

import operator
from collections.abc import Sequence
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
