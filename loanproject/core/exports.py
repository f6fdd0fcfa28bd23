"""Tabular exports as CSV (streamed) or XLSX (openpyxl write-only), with bounded memory.

Money stays Decimal: CSV writes its exact text, XLSX a number cell built from the Decimal.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import FileResponse, StreamingHttpResponse

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


def xlsx_response(
    *, filename: str, title: str, columns: Sequence[tuple[str, str]], rows: Iterable[dict[str, Any]]
) -> FileResponse:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)  # rows go to disk as they come
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([label for _, label in columns])
    for row in rows:
        sheet.append([row.get(key) for key, _ in columns])
    spooled = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115 (FileResponse closes it)
    workbook.save(spooled)
    spooled.seek(0)
    return FileResponse(spooled, as_attachment=True, filename=f"{filename}.xlsx", content_type=XLSX_MEDIA_TYPE)


def export_response(
    *, export: str, filename: str, title: str, columns: Sequence[tuple[str, str]], rows: Iterable[dict[str, Any]]
) -> StreamingHttpResponse | FileResponse:
    if export == "csv":
        return csv_response(filename=filename, columns=columns, rows=rows)
    if export == "xlsx":
        return xlsx_response(filename=filename, title=title, columns=columns, rows=rows)
    raise ValueError(f"unknown export format {export!r}; use one of {', '.join(EXPORT_FORMATS)}")
