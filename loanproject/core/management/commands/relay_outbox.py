import json

from django.core.management.base import BaseCommand, CommandError

from loanproject.core.outbox import pending_events_count, relay_pending_events
from loanproject.core.progress import progress_bar


class Command(BaseCommand):
    help = "Publish pending outbox events now (the same job beat runs every few seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="events per transaction")
        parser.add_argument(
            "--max-batches", type=int, default=50, help="stop after this many batches (default 50)"
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the report as JSON"
        )

    def handle(self, *args, batch_size, max_batches: int, as_json: bool, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if max_batches < 1:
            raise CommandError("--max-batches must be at least 1")
        with progress_bar(total=pending_events_count(due_only=True), unit="event", enabled=not as_json,
                          description="relaying") as bar:
            report = relay_pending_events(batch_size=batch_size, max_batches=max_batches, on_progress=bar.update)
        summary = report.as_dict() | {"still_pending": pending_events_count()}
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
            return
        self.stdout.write(
            f"published {report.published}, failed {report.failed}, "
            f"still pending {summary['still_pending']}"
        )
        for error in report.errors:
            self.stderr.write(error)
