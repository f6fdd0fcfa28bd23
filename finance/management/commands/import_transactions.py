import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from finance import services
from finance.services.imports import CSV_COLUMNS, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_ERRORS
from loanproject.core.audit import acting_as_system, system_user
from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Import a CSV export of a bank connection's transactions. Columns: "
        + ", ".join(CSV_COLUMNS)
        + " (merchant, category and pending optional); amounts are signed, positive = money in. "
        "Idempotent: rows already imported are counted as duplicates, so the same file can be "
        "imported again safely. Bad rows are reported with their line numbers; the good ones are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV file (UTF-8, header line first)")
        parser.add_argument("--connection", type=int, required=True, help="id of the bank connection")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="rows per transaction")
        parser.add_argument(
            "--max-errors", type=int, default=DEFAULT_MAX_ERRORS, help="bad rows to list (all are counted)"
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")

    def handle(self, *args, path: str, connection: int, chunk_size: int, max_errors: int, as_json: bool, **options):
        file_path = Path(path)
        if not file_path.is_file():
            raise CommandError(f"No such file: {path}")
        if chunk_size < 1 or max_errors < 0:
            raise CommandError("--chunk-size must be positive and --max-errors not negative")
        with file_path.open("rb") as csv_file:
            total = services.count_csv_rows(csv_file)
            try:
                with acting_as_system(), progress_bar(total=total, unit="row", enabled=not as_json) as bar:
                    report = services.import_transactions_csv(
                        connection_id=connection,
                        csv_file=csv_file,
                        source_name=file_path.name,
                        started_by=system_user(),
                        chunk_size=chunk_size,
                        max_errors=max_errors,
                        progress=bar.update,
                    )
            except DomainError as exc:
                raise CommandError(exc.message) from None
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        self.stdout.write(
            f"Import #{report.import_id}: {report.rows_read} row(s) read, {report.inserted} added, "
            f"{report.duplicates} already present, {report.rejected} refused"
        )
        for error in report.errors:
            self.stderr.write(f"line {error.position}: {' '.join(error.messages)}")
        if report.errors_truncated:
            self.stderr.write(f"... and {report.rejected - len(report.errors)} more refused row(s)")
