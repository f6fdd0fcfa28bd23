#!/usr/bin/env python
"""Benchmark the weekly lease-fee billing beside a naive per-lease ORM baseline, in one run.

    .venv/bin/python benchmarks/lease_fees.py                       # 100,000 leases, naive on 2,000
    .venv/bin/python benchmarks/lease_fees.py --n 20000 --sample 1000 --chunk-size 5000

On the database of BENCH_DATABASE_URL (dropped, created and migrated again; its name must start
with "bench"), `--n` drivers with one running lease each (weekly fee 300.00 + id cents) are
written set-based (not timed). Then, for the same week:
1. naive baseline: for each of `--sample` leases, in its own transaction, the lease is read, the
   driver's LEASE account opened, the entry booked with `post_entry`, the open item and the
   LeaseCharge row created one by one (what one would write first);
2. the service: the weekly posting (`post_weekly_installments`, lease-fees chunks of
   `--chunk-size`) bills the other leases; a second run of the week then bills nothing.
It prints leases per second of both and checks that every lease was billed exactly once and the
book balances.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import fresh_database, setup_django  # noqa: E402

WEEK_START = date(2026, 1, 4)  # a Sunday
WEEK_END = WEEK_START + timedelta(days=6)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="leases billed by the service (default 100,000)")
    parser.add_argument("--sample", type=int, default=2_000, help="leases billed by the naive loop (default 2,000)")
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="leases per chunk (default LOANS_POSTING_CHUNK_SIZE)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_lease_fees"),
    )
    return parser.parse_args()


def create_leases(count: int) -> list[int]:
    """`count` drivers, each with one lease running since 2025 at 300.00 + a few cents a week."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO loans_driver (tlc_license_number, full_name, email, phone, status, created_at, updated_at) "
            "SELECT 'B-' || lpad(g::text, 8, '0'), 'Bench driver ' || g, '', '', 'active', now(), now() "
            "FROM generate_series(1, %s) g RETURNING id",
            [count],
        )
        driver_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO loans_lease (driver_id, lease_number, medallion_number, vehicle_vin, vehicle_plate, start_date, "
            "weekly_fee, created_at) SELECT d, 'LB-' || d, '1X' || (d %% 100), '', '', '2025-01-05', 300 + (d %% 100) / 100.0, now() "
            "FROM unnest(%s::bigint[]) d RETURNING id",
            [driver_ids],
        )
        lease_ids = sorted(row[0] for row in cursor.fetchall())
        cursor.execute("ANALYZE")
    return lease_ids


def naive_orm_loop(lease_ids: list[int], run) -> float:
    from django.db import transaction

    from ledger import services as ledger
    from ledger.inputs import Leg
    from ledger.models import Category, OpenItem
    from loans.accounts import driver_party, lease_income_account
    from loans.models import Lease, LeaseCharge, lease_fee_key

    income = lease_income_account()
    started = time.perf_counter()
    for lease_id in lease_ids:
        with transaction.atomic():
            lease = Lease.objects.select_related("driver").get(pk=lease_id)
            receivable = ledger.open_party_account(
                party=driver_party(lease.driver), category=Category.LEASE, name=lease.driver.full_name
            )
            entry = ledger.post_entry(
                idempotency_key=lease_fee_key(lease.pk, WEEK_START),
                entry_date=WEEK_START,
                description=f"Lease {lease.lease_number} fee",
                source="loans.lease",
                legs=[Leg(account=receivable, debit=lease.weekly_fee), Leg(account=income, credit=lease.weekly_fee)],
            )
            OpenItem.objects.create(
                account=receivable,
                entry=entry,
                amount=lease.weekly_fee,
                outstanding=lease.weekly_fee,
                due_date=WEEK_START,
            )
            LeaseCharge.objects.create(
                lease=lease, week_start=WEEK_START, amount=lease.weekly_fee, entry=entry, posting_run=run
            )
    return time.perf_counter() - started


def check_exactly_once(expected: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT lease_id), (SELECT count(*) FROM ledger_journalentry WHERE source = 'loans.lease'), "
            "(SELECT count(*) FROM ledger_openitem o JOIN ledger_journalentry e ON e.id = o.entry_id WHERE e.source = 'loans.lease'), "
            "(SELECT coalesce(sum(debit) - sum(credit), 0) FROM ledger_posting) FROM loans_leasecharge"
        )
        charges, leases, entries, items, imbalance = cursor.fetchone()
    assert (charges, leases, entries, items, imbalance) == (expected, expected, expected, expected, Decimal(0)), (
        charges,
        leases,
        entries,
        items,
        imbalance,
    )


def main() -> None:
    args = parse_args()
    fresh_database(args.database_url)
    setup_django(args.database_url)
    from loans.models import InstallmentPostingRun
    from loans.services import post_weekly_installments

    lease_ids = create_leases(args.n + args.sample)
    naive_run = InstallmentPostingRun.objects.create(period_start=WEEK_START, period_end=WEEK_END, chunk_size=1)
    naive_seconds = naive_orm_loop(lease_ids[: args.sample], naive_run)
    check_exactly_once(args.sample)

    started = time.perf_counter()
    result = post_weekly_installments(period_start=WEEK_START, period_end=WEEK_END, chunk_size=args.chunk_size)
    service_seconds = time.perf_counter() - started
    assert (result.lease_fees, result.lease_fees_failed) == (args.n, 0), result
    again = post_weekly_installments(period_start=WEEK_START, period_end=WEEK_END, chunk_size=args.chunk_size)
    assert again.lease_fees == 0, again
    check_exactly_once(args.n + args.sample)

    print(f"lease fees for the week of {WEEK_START}")
    print(
        f"  naive per-lease ORM loop: {args.sample:>9,} leases in {naive_seconds:8.2f} s = {args.sample / naive_seconds:>9,.0f}/s"
    )
    print(
        f"  weekly posting (service): {args.n:>9,} leases in {service_seconds:8.2f} s = {args.n / service_seconds:>9,.0f}/s"
    )
    print(
        f"  speed-up: {(args.n / service_seconds) / (args.sample / naive_seconds):.1f}x; billed {result.lease_fee_amount}; a second run billed 0"
    )
    print("  every lease billed exactly once; the book balances")


if __name__ == "__main__":
    main()
