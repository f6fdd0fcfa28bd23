import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from loanproject.core.audit import acting_as_system
from loanproject.core.progress import progress_bar
from loans import services
from loans.models import Driver, PromiseStatus, PromiseToPay
from loans.periods import business_today


def _id_span(ids) -> int:
    first, last = ids.first(), ids.last()
    return (last - first + 1) if first is not None and last is not None else 0


class Command(BaseCommand):
    help = (
        "Refresh the collections queue (each delinquent driver's largest days past due, overdue amount and "
        "class, from the last classification) and settle open promises to pay: kept once the driver's "
        "payments since the promise reach its amount, broken the day after its day with less. What the "
        "nightly beat job runs after classify_delinquency; safe to run again (a rerun changes nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="the day (YYYY-MM-DD); default today, New York time")
        parser.add_argument("--chunk-size", type=int, default=services.collections.DEFAULT_CHUNK_SIZE)
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the result as JSON")

    def handle(self, *args, as_of: str | None, chunk_size: int, as_json: bool, **options):
        try:
            day = date.fromisoformat(as_of) if as_of else business_today()
        except ValueError:
            raise CommandError(f"--as-of must be a date like 2026-01-04, got {as_of!r}.") from None
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        shown = options["verbosity"] > 0
        drivers = _id_span(Driver.objects.order_by("pk").values_list("pk", flat=True))
        promises = _id_span(
            PromiseToPay.objects.filter(status=PromiseStatus.OPEN).order_by("pk").values_list("pk", flat=True)
        )
        with acting_as_system():
            with progress_bar(total=drivers, unit="driver id", enabled=shown) as bar:
                changed = services.refresh_collections_queue(as_of=day, chunk_size=chunk_size, on_chunk=bar.update)
            with progress_bar(total=promises, unit="promise id", enabled=shown) as bar:
                settled = services.settle_promises_to_pay(as_of=day, chunk_size=chunk_size, on_chunk=bar.update)
        result = {
            "as_of": day.isoformat(),
            "cases_changed": changed,
            "promises_kept": settled.kept,
            "promises_broken": settled.broken,
        }
        if as_json:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(
                f"Collections as of {day}: {changed} case(s) changed; promises kept {settled.kept}, "
                f"broken {settled.broken}."
            )
