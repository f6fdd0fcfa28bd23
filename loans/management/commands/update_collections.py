import json

from django.core.management.base import BaseCommand

from loanproject.core.audit import acting_as_system
from loanproject.core.progress import progress_bar
from loans import services
from loans.management.nightly import add_nightly_arguments, id_span, nightly_day
from loans.models import Driver, PromiseStatus, PromiseToPay


class Command(BaseCommand):
    help = (
        "Refresh the collections queue (each delinquent driver's largest days past due, overdue amount and "
        "class, from the last classification) and settle open promises to pay: kept once the driver's "
        "payments since the promise reach its amount, broken the day after its day with less. What the "
        "nightly beat job runs after classify_delinquency; safe to run again (a rerun changes nothing)."
    )

    def add_arguments(self, parser):
        add_nightly_arguments(
            parser,
            as_of_help="the day",
            chunk_size=services.collections.DEFAULT_CHUNK_SIZE,
            chunk_help="driver ids (and promises) per statement",
        )

    def handle(self, *args, as_of: str | None, chunk_size: int, as_json: bool, **options):
        day = nightly_day(as_of, chunk_size)
        shown = options["verbosity"] > 0
        drivers = id_span(Driver.objects.order_by("pk").values_list("pk", flat=True))
        promises = id_span(
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
