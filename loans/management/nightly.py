"""What the nightly batch commands share: `--as-of`, `--chunk-size` and `--json`, and the span of
ids their progress bar counts."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import date

from django.core.management.base import CommandError
from django.db.models import QuerySet

from loans.periods import business_today


def add_nightly_arguments(parser: ArgumentParser, *, as_of_help: str, chunk_size: int, chunk_help: str) -> None:
    parser.add_argument("--as-of", help=f"{as_of_help} (YYYY-MM-DD); default today, New York time")
    parser.add_argument("--chunk-size", type=int, default=chunk_size, help=chunk_help)
    parser.add_argument("--json", action="store_true", dest="as_json", help="print the result as JSON")


def nightly_day(as_of: str | None, chunk_size: int) -> date:
    """The day to run for; a CommandError for a bad --as-of or --chunk-size."""
    if chunk_size < 1:
        raise CommandError("--chunk-size must be at least 1.")
    try:
        return date.fromisoformat(as_of) if as_of else business_today()
    except ValueError:
        raise CommandError(f"--as-of must be a date like 2026-01-04, got {as_of!r}.") from None


def id_span(ids: QuerySet) -> int:
    """last id - first id + 1 of `ids` (ordered by pk): what a walk by id ranges covers."""
    first, last = ids.first(), ids.last()
    return (last - first + 1) if first is not None and last is not None else 0
