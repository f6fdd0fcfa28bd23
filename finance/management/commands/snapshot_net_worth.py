import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from finance import services
from loanproject.core.audit import acting_as_system, system_user
from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Take today's net-worth snapshot of every customer with an open account (the nightly "
        "job, by hand). Balances are only known as they are now, so the snapshot is for today "
        "only. Idempotent: customers already snapshotted today are skipped, so an interrupted "
        "run is finished by running it again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", dest="on", default=None, help="YYYY-MM-DD, which must be today (TIME_ZONE); a guard for scripts"
        )
        parser.add_argument(
            "--customer", dest="customer_ids", type=int, action="append", help="only this customer id (repeatable)"
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="customers per transaction")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")

    def handle(self, *args, on, customer_ids, batch_size: int, as_json: bool, **options):
        day = iso_date(on) if on else timezone.localdate()
        if batch_size < 1:
            raise CommandError("--batch-size must be positive")
        total = len(set(customer_ids)) if customer_ids else services.count_customers_with_open_accounts()
        try:
            with acting_as_system(), progress_bar(total=total, unit="customer", enabled=not as_json) as bar:
                report = services.take_net_worth_snapshots(
                    on=day,
                    customer_ids=customer_ids,
                    batch_size=batch_size,
                    progress=bar.update,
                    started_by=system_user(),
                )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.date}: {report.created} snapshot(s) taken, {report.already_taken} already taken, "
                f"{report.customers} customer(s) (run #{report.run_id})"
            )
        )
