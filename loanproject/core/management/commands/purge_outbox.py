import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar
from loanproject.core.retention import DEFAULT_BATCH_SIZE, purge_old_outbox_records

MAX_RETENTION_DAYS = 36_500  # a century: beyond it the cut-off date does not exist


class Command(BaseCommand):
    help = (
        "Delete published outbox events and consumer receipts older than OUTBOX_RETENTION_DAYS, and "
        "idempotency keys older than IDEMPOTENCY_KEY_RETENTION_DAYS (the same job beat runs nightly). "
        "Unpublished events are always kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rows per transaction")
        parser.add_argument(
            "--outbox-days",
            type=int,
            default=None,
            help=f"keep events and receipts of this many days (default OUTBOX_RETENTION_DAYS={settings.OUTBOX_RETENTION_DAYS})",
        )
        parser.add_argument(
            "--idempotency-key-days",
            type=int,
            default=None,
            help="keep idempotency keys of this many days "
            f"(default IDEMPOTENCY_KEY_RETENTION_DAYS={settings.IDEMPOTENCY_KEY_RETENTION_DAYS})",
        )

    def handle(
        self,
        *args: Any,
        dry_run: bool,
        as_json: bool,
        batch_size: int,
        outbox_days: int | None,
        idempotency_key_days: int | None,
        **options: Any,
    ) -> None:
        outbox_days = settings.OUTBOX_RETENTION_DAYS if outbox_days is None else outbox_days
        key_days = settings.IDEMPOTENCY_KEY_RETENTION_DAYS if idempotency_key_days is None else idempotency_key_days
        if not (1 <= outbox_days <= MAX_RETENTION_DAYS and 1 <= key_days <= MAX_RETENTION_DAYS):
            raise CommandError(
                f"Retention must be from 1 to {MAX_RETENTION_DAYS:,} days (--outbox-days, --idempotency-key-days)"
            )
        bar = progress_bar(total=None, unit="row", enabled=False)

        def plan(total: int) -> None:
            nonlocal bar
            bar = progress_bar(total=total, unit="row", enabled=not (as_json or dry_run), description="purging")

        try:
            report = purge_old_outbox_records(
                older_than=timedelta(days=outbox_days),
                idempotency_keys_older_than=timedelta(days=key_days),
                batch_size=batch_size,
                dry_run=dry_run,
                on_plan=plan,
                on_progress=lambda count: bar.update(count),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        finally:
            bar.close()
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
            return
        verb = "would delete" if dry_run else "deleted"
        for table, count in report.deleted.items():
            self.stdout.write(f"{table.replace('_', ' ')}: {verb} {count}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {report.total} row(s): events and receipts before {report.outbox_cutoff}, "
                f"idempotency keys before {report.idempotency_key_cutoff}"
            )
        )
