import json
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from loanproject.core.audit import acting_as_system, system_user
from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar
from loans import services
from loans.periods import current_week, posting_week


def week_of(value: str) -> tuple[date, date]:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--week must be a date like 2026-01-04, got {value!r}.") from None
    try:
        return posting_week(day)
    except DomainError as exc:  # out of range, or a week that has not started
        raise CommandError(f"--week: {exc.message}") from None


class Command(BaseCommand):
    help = (
        "Post every due, unposted installment of active loans for a week (Sunday to Saturday, New York "
        "time), each as one balanced journal entry with an open item on the driver's LOANS balance. "
        "Safe to run again or alongside the scheduled run: nothing is posted twice. Exits 1 if an "
        "installment could not be posted or another transaction held one until the end. A week before "
        "the current one is refused (a dry run of it is not): posting it again needs a second person, "
        "asked in the admin (Posting runs > Ask to post a past week) or the staff API "
        "(/api/v1/loans/postings/past-week/) and approved in Approval requests."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--week",
            help="any day of the week to post (YYYY-MM-DD), this week (New York time) unless --dry-run; default: this "
            "week",
        )
        parser.add_argument("--dry-run", action="store_true", help="count what would be posted; write nothing")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the result as JSON")
        parser.add_argument("--chunk-size", type=int, default=None, help="installments per transaction")

    def handle(self, *args, week: str | None, dry_run: bool, as_json: bool, chunk_size: int | None, **options):
        period_start, period_end = week_of(week) if week else current_week()
        if chunk_size is not None and chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        try:
            if not dry_run:
                services.refuse_past_week(period_start, field="week")
            if dry_run:
                result = services.preview_posting(period_start=period_start, period_end=period_end)
            else:
                result = self._post(period_start, period_end, chunk_size, show_progress=options["verbosity"] > 0)
        except (DomainError, ValidationError) as exc:
            raise CommandError(exc.message if isinstance(exc, DomainError) else "; ".join(exc.messages)) from None
        except DatabaseError as exc:
            raise CommandError(
                f"The database failed during the run ({exc}). Finished chunks are posted; the recovery sweep "
                "posts the rest within minutes, or run the command again (nothing is posted twice)."
            ) from exc
        self._report(result, as_json=as_json)
        if result.failed:
            raise CommandError(f"{result.failed} installment(s) could not be posted; fix them and run again.")
        if result.locked:
            raise CommandError(
                f"{result.locked} installment(s) were held by another transaction until the end of the run; run again "
                "once it is over to post them (nothing is posted twice)."
            )

    def _post(self, period_start: date, period_end: date, chunk_size: int | None, *, show_progress: bool):
        bar = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = progress_bar(total=total, unit="installment", enabled=show_progress, description="posting")
            bar.update(done - bar.n)

        with acting_as_system():
            try:
                return services.post_weekly_installments(
                    period_start=period_start,
                    period_end=period_end,
                    chunk_size=chunk_size,
                    started_by=system_user(),
                    on_progress=progress,
                )
            finally:
                if bar is not None:
                    bar.close()

    def _report(self, result, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(result.as_dict(), indent=2, sort_keys=True))
            return
        verb = "would post" if result.dry_run else "posted"
        self.stdout.write(
            f"Week {result.period_start} to {result.period_end}: {verb} {result.posted if not result.dry_run else result.processed} "
            f"installment(s), total {result.total_amount}"
            + (
                ""
                if result.dry_run
                else f"; processed {result.processed}, skipped {result.skipped}, failed {result.failed}, "
                f"locked {result.locked}"
            )
            + (f" (run #{result.run_id})" if result.run_id else "")
        )
        for error in result.errors:
            self.stderr.write(
                f"{error['loan_number']} #{error['sequence']} (installment {error['installment_id']}): {error['error']}"
            )
