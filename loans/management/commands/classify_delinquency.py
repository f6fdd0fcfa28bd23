import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from loanproject.core.audit import acting_as_system
from loanproject.core.progress import progress_bar
from loans import services
from loans.models import DriverLoan
from loans.periods import business_today


class Command(BaseCommand):
    help = (
        "Classify every driver loan by days past due (the oldest due date with money still outstanding) "
        "into the delinquency classes configured in the admin, recording each change of class. What the "
        "nightly beat job runs; safe to run again (a rerun changes nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="the day to classify for (YYYY-MM-DD); default today, New York time")
        parser.add_argument("--chunk-size", type=int, default=services.delinquency.DEFAULT_CHUNK_SIZE)
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the result as JSON")

    def handle(self, *args, as_of: str | None, chunk_size: int, as_json: bool, **options):
        try:
            day = date.fromisoformat(as_of) if as_of else business_today()
        except ValueError:
            raise CommandError(f"--as-of must be a date like 2026-01-04, got {as_of!r}.") from None
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        ids = DriverLoan.objects.order_by("pk").values_list("pk", flat=True)
        first, last = ids.first(), ids.last()
        total = (last - first + 1) if first is not None and last is not None else 0
        with progress_bar(total=total, unit="loan id", enabled=options["verbosity"] > 0) as bar, acting_as_system():
            result = services.classify_delinquency(as_of=day, chunk_size=chunk_size, on_chunk=bar.update)
        if as_json:
            self.stdout.write(json.dumps({"as_of": day.isoformat(), "loans": result.loans, "changes": result.changes}))
        else:
            self.stdout.write(f"Classified {result.loans} loan(s) as of {day}: {result.changes} change(s) of class.")
