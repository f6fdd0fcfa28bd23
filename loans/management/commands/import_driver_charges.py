from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from loanproject.core.audit import acting_as_system, system_user
from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar
from loans import services
from loans.models import ChargeKind
from loans.services.charge_imports import DEFAULT_CHUNK_SIZE


def count_lines(path: Path) -> int:
    """Rows in the file (lines after the header), for the progress bar: one pass over its bytes."""
    with path.open("rb") as stream:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b"")) - 1, 0)


class Command(BaseCommand):
    help = (
        "Import a CSV file of EZPass tolls, PVB parking violations or TLC tickets (header: external_id, date, amount, "
        "description, and plate for EZPASS/PVB, licence or medallion for TLC). Rows naming one driver are booked "
        "as open items in the kind's category; the others wait in the unmatched queue (admin). Rows imported "
        "before are skipped, so a file can be imported again. Bad rows are reported by line and skipped; exits 1 "
        "if there were any."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[kind.lower() for kind in ChargeKind.values], help="what the file holds")
        parser.add_argument("file", type=Path, help="the CSV file")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="rows per transaction")

    def handle(self, *args, kind: str, file: Path, chunk_size: int, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        kind = kind.upper()
        bar = progress_bar(
            total=count_lines(file), unit="row", enabled=options["verbosity"] > 0, description=f"importing {kind}"
        )

        def progress(done: int) -> None:
            bar.update(done - bar.n)

        try:
            with acting_as_system(), file.open("rb") as stream, bar:
                record = services.import_charges(
                    kind=kind,
                    rows=services.read_csv(kind, stream),
                    source_name=file.name,
                    started_by=system_user(),
                    chunk_size=chunk_size,
                    on_progress=progress,
                )
        except (DomainError, ValidationError) as exc:
            raise CommandError(exc.message if isinstance(exc, DomainError) else "; ".join(exc.messages)) from None
        self.stdout.write(
            f"Import #{record.pk} ({kind}, {file.name}): {record.rows_read} rows read, {record.booked} booked, "
            f"{record.unmatched} unmatched (queued), {record.duplicates} already imported, {record.rejected} refused."
        )
        for error in record.errors:
            self.stderr.write(f"line {error['line']}: {'; '.join(error['errors'])}")
        if record.rejected:
            raise CommandError(f"{record.rejected} row(s) were refused; fix them and import the file again.")
