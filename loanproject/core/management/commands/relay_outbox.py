import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from loanproject.core.errors import DomainError
from loanproject.core.outbox import pending_events_count, relay_pending_events, republish_events_since
from loanproject.core.progress import progress_bar


class Command(BaseCommand):
    help = "Publish pending outbox events now (the same job beat runs every few seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="events per transaction")
        parser.add_argument("--max-batches", type=int, default=50, help="stop after this many batches (default 50)")
        parser.add_argument(
            "--republish-since",
            metavar="ISO_TIME",
            default=None,
            help="first make pending again every event published since then that a subscriber has not "
            "processed (after the broker lost its queue: beat's redelivery sweep does it by itself for "
            "events published in the last hours), e.g. 2026-03-01T04:00+00:00",
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as JSON")

    def handle(
        self,
        *args: Any,
        batch_size: int | None,
        max_batches: int,
        republish_since: str | None,
        as_json: bool,
        **options: Any,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if max_batches < 1:
            raise CommandError("--max-batches must be at least 1")
        republished = self._republish(republish_since) if republish_since else None
        with progress_bar(
            total=pending_events_count(due_only=True), unit="event", enabled=not as_json, description="relaying"
        ) as bar:
            report = relay_pending_events(batch_size=batch_size, max_batches=max_batches, on_progress=bar.update)
        summary = report.as_dict() | {"still_pending": pending_events_count()}
        if republished is not None:
            summary["republished"] = republished
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
            return
        if republished is not None:
            self.stdout.write(f"made {republished} published event(s) pending again")
        self.stdout.write(
            f"published {report.published}, failed {report.failed}, still pending {summary['still_pending']}"
        )
        for error in report.errors:
            self.stderr.write(error)

    def _republish(self, value: str) -> int:
        try:
            since = datetime.fromisoformat(value)
        except ValueError:
            raise CommandError(
                f"--republish-since: {value!r} is not an ISO 8601 time, e.g. 2026-03-01T04:00+00:00"
            ) from None
        if timezone.is_naive(since):
            since = timezone.make_aware(since)
        try:
            return republish_events_since(since=since)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
