"""Net-worth snapshots: one per customer and day, taken from the open accounts' balances.

A snapshot is history: once taken for a day it is never rewritten, and taking it again returns
the one already there. The nightly job (CELERY_BEAT_SCHEDULE "finance-net-worth-snapshots") and
`manage.py snapshot_net_worth` snapshot every customer with an open account, set-based: on
PostgreSQL one INSERT ... SELECT per chunk of customers aggregates the balances and writes the
snapshots (ON CONFLICT DO NOTHING keeps those already taken); elsewhere one query finds the
customers already done, one aggregates the balances and one bulk INSERT writes the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from applications.models import Partner

from ..models import ASSET_TYPES, Account, NetWorthSnapshot
from ..selectors import NetWorthFigures, base_currency, net_worth_by_customer
from ._scope import customer_in_scope

DEFAULT_BATCH_SIZE = 5_000


@dataclass
class SnapshotReport:
    date: date
    customers: int = 0
    created: int = 0
    already_taken: int = 0

    def as_dict(self) -> dict:
        return asdict(self) | {"date": self.date.isoformat()}


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
    """The customer's snapshot for the day (today by default): (snapshot, created).

    Idempotent: if the day's snapshot exists it is returned unchanged. A customer without open
    accounts gets a snapshot of zeros.
    """
    customer = customer_in_scope(customer_id, partner=partner)
    on = on or timezone.localdate()
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


def _batches(customer_ids: Iterable[int], batch_size: int) -> Iterator[list[int]]:
    ids = sorted({int(customer_id) for customer_id in customer_ids})
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


def take_net_worth_snapshots(
    *,
    on: date | None = None,
    customer_ids: Iterable[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    strategy: str | None = None,
) -> SnapshotReport:
    """Snapshot many customers for the day: the given ones, or every customer with an open
    account. Set-based and chunked (a transaction per `batch_size` customers); idempotent, so a
    run that stopped half-way is finished by running it again. `strategy` ("sql" on
    PostgreSQL, "orm" anywhere) is chosen by the database; both give the same snapshots."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    strategy = strategy or ("sql" if connection.vendor == "postgresql" else "orm")
    if strategy not in WRITERS or (strategy == "sql" and connection.vendor != "postgresql"):
        raise ValueError(f"unknown or unavailable snapshot strategy {strategy!r}")
    write = WRITERS[strategy]
    on = on or timezone.localdate()
    currency = base_currency()
    report = SnapshotReport(date=on)
    batches = _customers_with_open_accounts(batch_size) if customer_ids is None else _batches(customer_ids, batch_size)
    for batch in batches:
        with transaction.atomic():
            created = write(batch, on, currency)
        report.customers += len(batch)
        report.created += created
        report.already_taken += len(batch) - created
        if progress:
            progress(len(batch))
    return report
