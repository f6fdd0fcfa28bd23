"""Net-worth snapshots: one per customer and day, taken from the open accounts' balances.

A snapshot is history: once taken for a day it is never rewritten, and taking it again returns
the one already there. Balances are only known as they are now, so a snapshot is taken for
today (the business day in settings.TIME_ZONE) and refused for any other day: a past day would
be recorded with today's balances, and a future one would block that day's real snapshot. The
nightly run (01:30) snapshots the day that has just begun. Staff code alone (partner=None, one
customer) may backfill a past day after setting that day's balances, as the demo data does.

The nightly job (CELERY_BEAT_SCHEDULE "finance-net-worth-snapshots"), `manage.py
snapshot_net_worth` and the admin action snapshot many customers, set-based: per chunk of
customers, one INSERT ... SELECT of selectors.net_worth_rows() (the same figures as a single
snapshot, the API and the admin) for the customers not yet snapshotted that day; ON CONFLICT DO
NOTHING keeps those a concurrent run took. Each such run is a NetWorthSnapshotRun row (who,
which day, how many), the audit trail of the bulk path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from applications.models import Customer, Partner
from loanproject.core.errors import DomainError

from ..models import Account, NetWorthSnapshot, NetWorthSnapshotRun, SnapshotRunStatus
from ..selectors import NetWorthFigures, base_currency, net_worth_rows
from ._scope import customer_in_scope

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEFAULT_BATCH_SIZE = 5_000
_LOOKUP_BATCH = 10_000
_MISSING_SHOWN = 20

logger = logging.getLogger(__name__)


@dataclass
class SnapshotReport:
    date: date
    customers: int = 0
    created: int = 0
    already_taken: int = 0
    run_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self) | {"date": self.date.isoformat()}


def snapshot_day(on: date | None = None, *, backfill: bool = False) -> date:
    """The day a snapshot is taken for: today in settings.TIME_ZONE (the default). Another day
    is a DomainError on the `date` field; with `backfill` (staff code only) a past day is allowed."""
    today = timezone.localdate()
    if on is None or on == today or (backfill and on < today):
        return on or today
    message = (
        f"A snapshot records the balances as they are now, so it is taken for today "
        f"({today.isoformat()}, {settings.TIME_ZONE}), not {on.isoformat()}."
    )
    raise DomainError(message, code="snapshot_date_not_today", fields={"date": [message]})


@transaction.atomic
def take_net_worth_snapshot(
    *, customer_id: int, on: date | None = None, partner: Partner | None = None
) -> tuple[NetWorthSnapshot, bool]:
    """The customer's snapshot for today: (snapshot, created).

    Idempotent: if the day's snapshot exists it is returned unchanged. A customer without open
    accounts gets a snapshot of zeros. `on` may only be today, except that staff code
    (partner=None) may backfill a past day whose balances it has just set; a future day never.
    """
    on = snapshot_day(on, backfill=partner is None)
    customer = customer_in_scope(customer_id, partner=partner)
    existing = NetWorthSnapshot.objects.filter(customer=customer, date=on).first()
    if existing is not None:
        return existing, False
    snapshot = NetWorthSnapshot(date=on, **net_worth_rows(customer_ids=[customer.pk]).get())
    try:
        with transaction.atomic():
            snapshot.save(force_insert=True)
    except IntegrityError:  # taken concurrently a moment ago: that one stands
        existing = NetWorthSnapshot.objects.filter(customer=customer, date=on).first()
        if existing is None:  # refused for another reason
            raise
        return existing, False
    return snapshot, True


def _customers_with_open_accounts(batch_size: int) -> Iterator[list[int]]:
    last = 0
    while True:
        batch = list(
            Account.objects.filter(deleted_at__isnull=True, customer_id__gt=last)
            .order_by("customer_id")
            .values_list("customer_id", flat=True)
            .distinct()[:batch_size]
        )
        if not batch:
            return
        yield batch
        last = batch[-1]


def _existing_customer_ids(customer_ids: Iterable[int]) -> list[int]:
    """The ids, sorted and unique, once each is known to be a customer; else a DomainError
    naming the missing ones (which the snapshot's INSERT ... SELECT would silently skip)."""
    try:
        ids = sorted({int(customer_id) for customer_id in customer_ids})
    except (TypeError, ValueError):
        raise DomainError(
            "Customer ids are whole numbers.", fields={"customer": ["Customer ids are whole numbers."]}
        ) from None
    found: set[int] = set()
    for start in range(0, len(ids), _LOOKUP_BATCH):
        found.update(Customer.objects.filter(pk__in=ids[start : start + _LOOKUP_BATCH]).values_list("pk", flat=True))
    missing = [customer_id for customer_id in ids if customer_id not in found]
    if missing:
        shown = ", ".join(str(customer_id) for customer_id in missing[:_MISSING_SHOWN])
        more = f" and {len(missing) - _MISSING_SHOWN} more" if len(missing) > _MISSING_SHOWN else ""
        message = f"No such customer(s): {shown}{more}."
        raise DomainError(message, code="unknown_customers", fields={"customer": [message]})
    return ids


def _batches(ids: list[int], batch_size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), batch_size):
        yield ids[start : start + batch_size]


def count_customers_with_open_accounts() -> int:
    return Account.objects.filter(deleted_at__isnull=True).values("customer_id").distinct().count()


_INSERTED_COLUMNS = ", ".join(field.name for field in fields(NetWorthFigures))


def _take_batch(batch: list[int], on: date, currency: str) -> int:
    """The snapshots of the batch's customers not yet snapshotted that day, in one INSERT ...
    SELECT of the selector's rows; a snapshot a concurrent run has just taken stands. The
    number taken."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id FROM finance_networthsnapshot WHERE date = %s AND customer_id = ANY(%s::bigint[])",
            [on, batch],
        )
        todo = set(batch).difference(customer_id for (customer_id,) in cursor.fetchall())
        if not todo:
            return 0
        select, params = net_worth_rows(customer_ids=todo, currency=currency).query.sql_with_params()
        cursor.execute(
            f"INSERT INTO finance_networthsnapshot (date, created_at, {_INSERTED_COLUMNS}) "
            f"SELECT %s, %s, {_INSERTED_COLUMNS} FROM ({select}) AS net_worth ORDER BY customer_id "
            "ON CONFLICT ON CONSTRAINT net_worth_snapshot_one_per_customer_day DO NOTHING",
            [on, timezone.now(), *params],
        )
        return cursor.rowcount


def _finish_run(run: NetWorthSnapshotRun, report: SnapshotReport, *, failure: str = "") -> None:
    run.customers, run.created, run.already_taken = report.customers, report.created, report.already_taken
    run.status = SnapshotRunStatus.FAILED if failure else SnapshotRunStatus.COMPLETED
    run.error_message = failure
    run.finished_at = timezone.now()
    run.save(update_fields=["customers", "created", "already_taken", "status", "error_message", "finished_at"])


def take_net_worth_snapshots(
    *,
    on: date | None = None,
    customer_ids: Iterable[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], object] | None = None,
    started_by: User | None = None,
) -> SnapshotReport:
    """Snapshot many customers for today: the given ones, or every customer with an open
    account. Set-based and chunked (a transaction per `batch_size` customers); idempotent, so a
    run that stopped half-way is finished by running it again.

    `on` may only be today (DomainError otherwise); unknown customer ids are a DomainError
    naming them, before anything is written. The run is recorded as a NetWorthSnapshotRun, which
    ends completed with its counts, or failed with the reason."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    on = snapshot_day(on)
    chosen = None if customer_ids is None else _existing_customer_ids(customer_ids)
    currency = base_currency()
    run = NetWorthSnapshotRun.objects.create(date=on, chosen_customers=chosen is not None, started_by=started_by)
    report = SnapshotReport(date=on, run_id=run.pk)
    batches = _customers_with_open_accounts(batch_size) if chosen is None else _batches(chosen, batch_size)
    try:
        for batch in batches:
            with transaction.atomic():
                created = _take_batch(batch, on, currency)
            report.customers += len(batch)
            report.created += created
            report.already_taken += len(batch) - created
            if progress:
                progress(len(batch))
    except BaseException as exc:  # never left "running"; the batches done so far are kept
        try:
            _finish_run(run, report, failure=f"{type(exc).__name__}: {exc}"[:2000])
        except Exception:
            logger.exception("could not mark net-worth snapshot run %s failed", run.pk)
        raise
    _finish_run(run, report)
    return report
