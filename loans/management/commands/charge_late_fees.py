import json

from django.core.management.base import BaseCommand, CommandError

from loanproject.core.audit import acting_as_system, system_user
from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar
from loans import services
from loans.management.nightly import add_nightly_arguments, nightly_day
from loans.services.late_fees import DEFAULT_CHUNK_SIZE, late_fee_loan_ids


class Command(BaseCommand):
    help = (
        "Charge the late fee of every posted installment of an active loan still unpaid more than the "
        "loan's grace days after its due date (flat, or a percent of the installment with a cap, as the "
        "loan's product set it), once per installment: a PENALTY open item, Dr the driver's PENALTY "
        "receivable / Cr 4200 late fee income. What the nightly beat job runs; safe to run again (a "
        "rerun charges nothing). Exits 1 if a chunk failed (it rolled back whole)."
    )

    def add_arguments(self, parser):
        add_nightly_arguments(
            parser,
            as_of_help="the day to charge for",
            chunk_size=DEFAULT_CHUNK_SIZE,
            chunk_help="loan ids per transaction",
        )

    def handle(self, *args, as_of: str | None, chunk_size: int, as_json: bool, **options):
        day = nightly_day(as_of, chunk_size)
        first, last = late_fee_loan_ids()
        total = (last - first + 1) if first is not None and last is not None else 0
        try:
            with progress_bar(total=total, unit="loan id", enabled=options["verbosity"] > 0) as bar, acting_as_system():
                result = services.charge_late_fees(
                    as_of=day, chunk_size=chunk_size, started_by=system_user(), on_chunk=bar.update
                )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if as_json:
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            self.stdout.write(f"Charged {result.charged} late fee(s) as of {day}, {result.amount} in all.")
            for chunk in result.failed_chunks:
                self.stderr.write(
                    f"Loans {chunk['first_loan_id']}..{chunk['next_loan_id'] - 1} failed: {chunk['error']}"
                )
        if not result.success:
            raise SystemExit(1)
