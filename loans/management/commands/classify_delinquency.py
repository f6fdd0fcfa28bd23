import json

from django.core.management.base import BaseCommand

from loanproject.core.audit import acting_as_system
from loanproject.core.progress import progress_bar
from loans import services
from loans.management.nightly import add_nightly_arguments, id_span, nightly_day
from loans.models import DriverLoan


class Command(BaseCommand):
    help = (
        "Classify every driver loan by days past due (the oldest due date with money still outstanding) "
        "into the delinquency classes configured in the admin, recording each change of class. What the "
        "nightly beat job runs; safe to run again (a rerun changes nothing)."
    )

    def add_arguments(self, parser):
        add_nightly_arguments(
            parser,
            as_of_help="the day to classify for",
            chunk_size=services.delinquency.DEFAULT_CHUNK_SIZE,
            chunk_help="loan ids per statement",
        )

    def handle(self, *args, as_of: str | None, chunk_size: int, as_json: bool, **options):
        day = nightly_day(as_of, chunk_size)
        total = id_span(DriverLoan.objects.order_by("pk").values_list("pk", flat=True))
        with progress_bar(total=total, unit="loan id", enabled=options["verbosity"] > 0) as bar, acting_as_system():
            result = services.classify_delinquency(as_of=day, chunk_size=chunk_size, on_chunk=bar.update)
        if as_json:
            self.stdout.write(json.dumps({"as_of": day.isoformat(), "loans": result.loans, "changes": result.changes}))
        else:
            self.stdout.write(f"Classified {result.loans} loan(s) as of {day}: {result.changes} change(s) of class.")
