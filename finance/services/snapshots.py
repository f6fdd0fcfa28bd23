"""Net-worth snapshots: one per customer and day, taken from the open accounts' balances.

A snapshot is history: once taken for a day it is never rewritten, and taking it again returns
the one already there. Balances are only known as they are now, so a snapshot is taken for
today (the business day in settings.TIME_ZONE) and refused for any other day: a past day would
be recorded with today's balances, and a future one would block that day's real snapshot. The
nightly run (01:30) snapshots the day that has just begun. Staff code alone (partner=None, one
customer) may backfill a past day after setting that day's balances, as the demo data does.

The nightly job (CELERY_BEAT_SCHEDULE "finance-net-worth-snapshots"), `manage.py
snapshot_net_worth` and the admin action snapshot many customers, set-based: on PostgreSQL one
INSERT ... SELECT per chunk of customers aggregates the balances and writes the snapshots (ON
CONFLICT DO NOTHING keeps those already taken); elsewhere one query finds the customers already
done, one aggregates the balances and one bulk INSERT writes the rest. Each such run is a
NetWorthSnapshotRun row (who, which day, how many), the audit trail of the bulk path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from applications.models import Customer, Partner
from loanproject.core.errors import DomainError

from ..models import ASSET_TYPES, Account, NetWorthSnapshot, NetWorthSnapshotRun, SnapshotRunStatus
from ..selectors import NetWorthFigures, base_currency, net_worth_by_customer
from ._scope import customer_in_scope

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


def _as_json(amounts: dict) -> dict:
    """Decimals become strings in JSON, never floats."""
    return {key: _as_json(value) if isinstance(value, dict) else str(value) for key, value in amounts.items()}


def _snapshot(customer_id: int, on: date, figures: NetWorthFigures, created_at) -> NetWorthSnapshot:
    return NetWorthSnapshot(
        customer_id=customer_id,
        date=on,
        currency=figures.currency,
        total_assets=figures.total_assets,
        total_liabilities=figures.total_liabilities,
        net_worth=figures.net_worth,
        assets_breakdown=_as_json(figures.assets_breakdown),
        liabilities_breakdown=_as_json(figures.liabilities_breakdown),
        other_currencies=_as_json(figures.other_currencies),
        accounts_count=figures.accounts_count,
        created_at=created_at,
    )


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
    figures = net_worth_by_customer(customer_ids=[customer.pk]).get(customer.pk) or NetWorthFigures(
        currency=base_currency()
    )
    snapshot = _snapshot(customer.pk, on, figures, timezone.now())
    snapshot.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            snapshot.save(force_insert=True)
    except IntegrityError:  # taken concurrently a moment ago: that one stands
        return NetWorthSnapshot.objects.get(customer=customer, date=on), False
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
    naming the missing ones (a snapshot of a missing customer fails only at commit, deferred)."""
    try:
        ids = sorted({int(customer_id) for customer_id in customer_ids})
    except (TypeError, ValueError):
        raise DomainError("Customer ids are whole numbers.", fields={"customer": ["Customer ids are whole numbers."]}) from None
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


def _write_with_orm(batch: list[int], on: date, currency: str) -> int:
    """Any database: skip the customers already done, aggregate balances, bulk-insert the rest."""
    taken = set(NetWorthSnapshot.objects.filter(date=on, customer_id__in=batch).values_list("customer_id", flat=True))
    todo = [customer_id for customer_id in batch if customer_id not in taken]
    figures = net_worth_by_customer(customer_ids=todo, currency=currency)
    created_at = timezone.now()
    NetWorthSnapshot.objects.bulk_create(
        [
            _snapshot(customer_id, on, figures.get(customer_id) or NetWorthFigures(currency=currency), created_at)
            for customer_id in todo
        ],
        batch_size=1000,
        # The transaction holds SQLite's write lock (IMMEDIATE), so no other run interleaves;
        # INSERT OR IGNORE would also swallow CHECK failures, so conflicts are not ignored.
    )
    return len(todo)


# The same figures as selectors.net_worth_by_customer, computed and inserted by PostgreSQL in
# one statement: balances summed per (customer, type, currency), then per customer; amounts
# in the JSON breakdowns are numeric(14, 2) rendered as text, never floats.
_SNAPSHOT_SQL = """
WITH chunk AS (
    -- Customers already snapshotted that day are skipped before any aggregation.
    SELECT ids.customer_id FROM unnest(%(ids)s::bigint[]) AS ids(customer_id)
    WHERE NOT EXISTS (
        SELECT 1 FROM finance_networthsnapshot s WHERE s.customer_id = ids.customer_id AND s.date = %(day)s
    )
),
per_type AS (
    SELECT a.customer_id, a.type, a.currency, SUM(a.current_balance) AS total, COUNT(*) AS accounts,
           a.type = ANY(%(asset_types)s::varchar[]) AS is_asset
    FROM finance_account a JOIN chunk ON chunk.customer_id = a.customer_id
    WHERE a.deleted_at IS NULL
    GROUP BY a.customer_id, a.type, a.currency
),
per_customer AS (
    SELECT customer_id,
           COALESCE(SUM(total) FILTER (WHERE currency = %(currency)s AND is_asset), 0) AS assets,
           COALESCE(SUM(total) FILTER (WHERE currency = %(currency)s AND NOT is_asset), 0) AS liabilities,
           COALESCE(jsonb_object_agg(type, total::text) FILTER (WHERE currency = %(currency)s AND is_asset), '{}') AS assets_breakdown,
           COALESCE(jsonb_object_agg(type, total::text) FILTER (WHERE currency = %(currency)s AND NOT is_asset), '{}') AS liabilities_breakdown,
           SUM(accounts) AS accounts
    FROM per_type GROUP BY customer_id
),
per_other_currency AS (
    SELECT customer_id, currency,
           COALESCE(SUM(total) FILTER (WHERE is_asset), 0)::numeric(14, 2) AS assets,
           COALESCE(SUM(total) FILTER (WHERE NOT is_asset), 0)::numeric(14, 2) AS liabilities
    FROM per_type WHERE currency <> %(currency)s GROUP BY customer_id, currency
),
other_currencies AS (
    SELECT customer_id,
           jsonb_object_agg(currency, jsonb_build_object('assets', assets::text, 'liabilities', liabilities::text)) AS amounts
    FROM per_other_currency GROUP BY customer_id
)
INSERT INTO finance_networthsnapshot (
    customer_id, date, currency, total_assets, total_liabilities, net_worth,
    assets_breakdown, liabilities_breakdown, other_currencies, accounts_count, created_at
)
SELECT chunk.customer_id, %(day)s, %(currency)s,
       COALESCE(c.assets, 0), COALESCE(c.liabilities, 0), COALESCE(c.assets, 0) - COALESCE(c.liabilities, 0),
       COALESCE(c.assets_breakdown, '{}'), COALESCE(c.liabilities_breakdown, '{}'), COALESCE(o.amounts, '{}'),
       COALESCE(c.accounts, 0), %(now)s
FROM chunk
LEFT JOIN per_customer c ON c.customer_id = chunk.customer_id
LEFT JOIN other_currencies o ON o.customer_id = chunk.customer_id
ORDER BY chunk.customer_id
ON CONFLICT ON CONSTRAINT net_worth_snapshot_one_per_customer_day DO NOTHING
"""


def _write_with_sql(batch: list[int], on: date, currency: str) -> int:
    """PostgreSQL: aggregate and insert in one statement; a snapshot already there (taken
    earlier or by a concurrent run) stands, and the row count says how many were new."""
    with connection.cursor() as cursor:
        cursor.execute(
            _SNAPSHOT_SQL,
            {
                "ids": batch,
                "asset_types": [str(value) for value in ASSET_TYPES],
                "currency": currency,
                "day": on,
                "now": timezone.now(),
            },
        )
        return cursor.rowcount


WRITERS = {"sql": _write_with_sql, "orm": _write_with_orm}


def _finish_run(run: NetWorthSnapshotRun, report: SnapshotReport, *, failure: str = "") -> None:
    run.customers, run.created, run.already_taken = report.customers, report.created, report.already_taken
    run.status = SnapshotRunStatus.FAILED if failure else SnapshotRunStatus.COMPLETED
    run.error_message = failure
    run.finished_at = timezone.now()
    run.full_clean()
    run.save(update_fields=["customers", "created", "already_taken", "status", "error_message", "finished_at"])


def take_net_worth_snapshots(
    *,
    on: date | None = None,
    customer_ids: Iterable[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    strategy: str | None = None,
    started_by: AbstractBaseUser | None = None,
) -> SnapshotReport:
    """Snapshot many customers for today: the given ones, or every customer with an open
    account. Set-based and chunked (a transaction per `batch_size` customers); idempotent, so a
    run that stopped half-way is finished by running it again. `strategy` ("sql" on
    PostgreSQL, "orm" anywhere) is chosen by the database; both give the same snapshots.

    `on` may only be today (DomainError otherwise); unknown customer ids are a DomainError
    naming them, before anything is written. The run is recorded as a NetWorthSnapshotRun, which
    ends completed with its counts, or failed with the reason."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    strategy = strategy or ("sql" if connection.vendor == "postgresql" else "orm")
    if strategy not in WRITERS or (strategy == "sql" and connection.vendor != "postgresql"):
        raise ValueError(f"unknown or unavailable snapshot strategy {strategy!r}")
    write = WRITERS[strategy]
    on = snapshot_day(on)
    chosen = None if customer_ids is None else _existing_customer_ids(customer_ids)
    currency = base_currency()
    run = NetWorthSnapshotRun(date=on, chosen_customers=chosen is not None, started_by=started_by)
    run.full_clean()
    run.save(force_insert=True)
    report = SnapshotReport(date=on, run_id=run.pk)
    batches = _customers_with_open_accounts(batch_size) if chosen is None else _batches(chosen, batch_size)
    try:
        for batch in batches:
            with transaction.atomic():
                created = write(batch, on, currency)
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
