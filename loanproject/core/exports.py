"""Tabular exports: CSV streamed inside the request, with bounded memory. XLSX files are never
built in a request: a worker builds them (core.export_jobs), which also writes money as a number
cell built from the Decimal; CSV writes its exact text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import StreamingHttpResponse

EXPORT_FORMATS = ("csv", "xlsx")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class _Echo:
    """A file-like object that hands back what csv.writer writes, for streaming."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    *, filename: str, columns: Sequence[tuple[str, str]], rows: Iterable[dict[str, Any]]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([label for _, label in columns])
        for row in rows:
            yield writer.writerow(["" if row.get(key) is None else row[key] for key, _ in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
