import json

from django.core.management.base import BaseCommand

from loanproject.core.outbox import pending_events_count, relay_pending_events


class Command(BaseCommand):
    help = "Publish pending outbox events now (the same job beat runs every few seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="events per transaction")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the report as JSON"
        )

    def handle(self, *args, batch_size, as_json: bool, **options):
        report = relay_pending_events(batch_size=batch_size)
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
