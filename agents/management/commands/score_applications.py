import argparse
import json
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from agents import selectors, services
from applications.lifecycle import ApplicationStatus
from loanproject.core.audit import acting_as_system
from loanproject.core.errors import DomainError
from loanproject.core.progress import progress_bar


def application_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an application id (a UUID)") from None


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def _refusal(refused: dict) -> str:
    named = ", ".join(
        f"{application_id} ({ApplicationStatus(status).label.lower() if status else 'no such application'})"
        for application_id, status in refused.items()
    )
    labels = [
        ApplicationStatus(status).label.lower().replace(" ", "-")
        for status in selectors.SCORABLE_OR_RESCORABLE_STATUSES
    ]
    return (
        f"Cannot score {named}: only {', '.join(labels[:-1])} and {labels[-1]} applications are scored. "
        "Nothing was scored."
    )


class Command(BaseCommand):
    help = (
        "Score applications in batches: the pending ones (submitted, or sent back to scoring) by default, "
        "those in --status, or exactly those of --ids (pre-approved and manual-review ones are re-scored)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            action="append",
            choices=list(ApplicationStatus.values),
            default=None,
            help="score applications in this status (repeatable); default: submitted and scoring",
        )
        parser.add_argument(
            "--ids",
            nargs="+",
            type=application_id,
            default=None,
            help="only these application ids; without --status, each in whatever state scoring can take "
            "(submitted, scoring, pre-approved, manual review); others are refused by name",
        )
        parser.add_argument(
            "--batch-size", type=positive, default=500, help="applications per transaction (default 500)"
        )
        parser.add_argument("--limit", type=positive, default=None, help="score at most this many")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")

    def handle(self, *args, status, ids, batch_size: int, limit, as_json: bool, **options):
        statuses = status or list(selectors.SCORABLE_STATUSES)
        if ids and not status:
            statuses = list(selectors.SCORABLE_OR_RESCORABLE_STATUSES)
            refused = selectors.unscorable_applications(ids=ids)
            if refused:
                raise CommandError(_refusal(refused))
        try:
            with acting_as_system():
                selectors.active_policy()
                pending = selectors.pending_application_ids(statuses=statuses, ids=ids, limit=limit)
                with progress_bar(total=len(pending), unit="app", enabled=not as_json, description="scoring") as bar:
                    report = services.score_in_batches(
                        application_ids=pending,
                        batch_size=batch_size,
                        progress=bar.update,
                        rescore_decided=not set(statuses) <= set(selectors.SCORABLE_STATUSES),
                    )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
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
