import json

from django.core.management.base import BaseCommand, CommandError

from agents import services
from applications.lifecycle import ApplicationStatus
from loanproject.core.audit import acting_as_system
from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Score applications in batches: the pending ones (submitted, or sent back to scoring) by default, "
        "or those with --status / --ids (pre-approved and manual-review ones are re-scored)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--status", action="append", choices=list(ApplicationStatus.values), default=None,
            help="score applications in this status (repeatable); default: submitted and scoring",
        )
        parser.add_argument("--ids", nargs="+", default=None, help="only these application ids")
        parser.add_argument("--batch-size", type=int, default=500, help="applications per transaction (default 500)")
        parser.add_argument("--limit", type=int, default=None, help="score at most this many")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")

    def handle(self, *args, status, ids, batch_size: int, limit, as_json: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        statuses = status or list(services.SCORABLE_STATUSES)
        try:
            with acting_as_system():
                services.active_policy()
                pending = services.pending_application_ids(statuses=statuses, ids=ids, limit=limit)
                with progress_bar(total=len(pending), unit="app", enabled=not as_json, description="scoring") as bar:
                    report = services.score_in_batches(application_ids=pending, batch_size=batch_size, progress=bar.update)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        summary = report.as_dict() | {"selected": len(pending)}
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
            return
        rate = report.scored / report.seconds if report.seconds else 0
        self.stdout.write(
            f"scored {report.scored} of {len(pending)} selected: {report.pre_approved} pre-approved, "
            f"{report.manual_review} to manual review, {report.rejected} rejected "
            f"({report.with_failed_agents} with failed agents, {report.skipped} skipped) "
            f"in {report.seconds:.1f} s ({rate:.0f}/s)"
        )
