#!/usr/bin/env python
"""Benchmark the import of toll files (EZPASS CSV) beside a naive per-row ORM baseline, in one run.

    .venv/bin/python benchmarks/charge_imports.py                     # 100,000 rows, naive on 2,000
    .venv/bin/python benchmarks/charge_imports.py --n 20000 --sample 1000 --chunk-size 5000

On the database of BENCH_DATABASE_URL (dropped, created and migrated again; its name must start
with "bench"), `--drivers` drivers with one lease each (a plate each) are written set-based (not
timed), and two CSV files are generated in memory: `--sample` rows and `--n` rows, tolls of those
plates (one row in 20 names an unknown plate: it is queued). Then:
1. naive baseline: for each row of the sample file, in its own transaction, the lease is looked up
   by plate, the ImportedCharge row created, the driver's EZPASS account opened and the charge
   booked with `post_charges`, the row marked booked (what one would write first);
2. the service: `import_charges` (`read_csv`, chunks of `--chunk-size`) on the big file; then
   the same file again (every row a duplicate).
It prints rows per second of each and checks that every row was imported once, every matched one
booked once, and the book balances.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import fresh_database, setup_django  # noqa: E402

FIRST_DAY = date(2026, 1, 4)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="rows imported by the service (default 100,000)")
    parser.add_argument("--sample", type=int, default=2_000, help="rows imported by the naive loop (default 2,000)")
    parser.add_argument(
        "--drivers", type=int, default=10_000, help="drivers, one lease and plate each (default 10,000)"
    )
    parser.add_argument("--chunk-size", type=int, default=5_000, help="rows per transaction (default 5,000)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_charge_imports"),
    )
    return parser.parse_args()


def create_drivers(count: int) -> None:
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
            "weekly_fee, created_at) SELECT d, 'LB-' || d, '1X' || (d %% 100), '', 'P' || d, '2025-01-05', 0, now() "
            "FROM unnest(%s::bigint[]) d",
            [driver_ids],
        )
        cursor.execute("ANALYZE")


def toll_file(prefix: str, rows: int, drivers: int, first_driver_id: int) -> bytes:
    lines = ["external_id,date,plate,amount,description"]
    for index in range(rows):
        plate = "UNKNOWN" if index % 20 == 19 else f"P{first_driver_id + index % drivers}"
        day = FIRST_DAY + timedelta(days=index % 7)
        lines.append(f"{prefix}-{index},{day.isoformat()},{plate},{6 + index % 10}.94,Bridge {index % 5}")
    return ("\n".join(lines) + "\n").encode()


def naive_orm_loop(data: bytes) -> float:
    import csv

    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from ledger import services as ledger
    from ledger.inputs import Charge
    from ledger.models import Category
    from loans.accounts import driver_party, tolls_and_fines_payable_account
    from loans.models import ImportedCharge, Lease

    payable = tolls_and_fines_payable_account()
    started = time.perf_counter()
    for row in csv.DictReader(io.StringIO(data.decode())):
        with transaction.atomic():
            day, amount = date.fromisoformat(row["date"]), Decimal(row["amount"])
            if ImportedCharge.objects.filter(kind="EZPASS", external_id=row["external_id"]).exists():
                continue
            leases = list(
                Lease.objects.select_related("driver")
                .filter(vehicle_plate=row["plate"], start_date__lte=day)
                .filter(Q(end_date__isnull=True) | Q(end_date__gte=day))[:2]
            )
            driver = leases[0].driver if len(leases) == 1 else None
            charge = ImportedCharge.objects.create(
                kind="EZPASS",
                external_id=row["external_id"],
                charge_date=day,
                amount=amount,
                plate=row["plate"],
                driver=driver,
            )
            if driver is None:
                continue
            receivable = ledger.open_party_account(
                party=driver_party(driver), category=Category.EZPASS, name=driver.full_name
            )
            key = f"loans.charge:EZPASS:{row['external_id']}"
            posted = ledger.post_charges(
                charges=[
                    Charge(
                        idempotency_key=key,
                        entry_date=day,
                        due_date=day,
                        description=row["description"],
                        receivable_account_id=receivable.pk,
                        credits=((payable.pk, amount),),
                        reference=f"EZPASS {row['external_id']}",
                    )
                ],
                source="loans.charge",
            )
            charge.status, charge.entry_id, charge.booked_at = "booked", posted[key].entry_id, timezone.now()
            charge.save(update_fields=["status", "entry", "booked_at"])
    return time.perf_counter() - started


def check_once(expected_rows: int) -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'booked'), "
            "(SELECT count(*) FROM ledger_journalentry WHERE source = 'loans.charge'), "
            "(SELECT coalesce(sum(debit) - sum(credit), 0) FROM ledger_posting) FROM loans_importedcharge"
        )
        rows, booked, entries, imbalance = cursor.fetchone()
    assert (rows, entries, imbalance) == (expected_rows, booked, Decimal(0)), (rows, booked, entries, imbalance)
    return rows, booked


def main() -> None:
    args = parse_args()
    fresh_database(args.database_url)
    setup_django(args.database_url)
    from loans.models import Driver
    from loans.services import import_charges, read_csv

    create_drivers(args.drivers)
    first_driver_id = Driver.objects.order_by("pk").values_list("pk", flat=True).first()
    assert first_driver_id is not None  # create_drivers made them
    sample = toll_file("NAIVE", args.sample, args.drivers, first_driver_id)
    big = toll_file("EZ", args.n, args.drivers, first_driver_id)

    naive_seconds = naive_orm_loop(sample)
    check_once(args.sample)

    started = time.perf_counter()
    record = import_charges(kind="EZPASS", rows=read_csv("EZPASS", io.BytesIO(big)), chunk_size=args.chunk_size)
    service_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = import_charges(kind="EZPASS", rows=read_csv("EZPASS", io.BytesIO(big)), chunk_size=args.chunk_size)
    again_seconds = time.perf_counter() - started
    assert (record.rows_read, record.rejected, again.duplicates) == (args.n, 0, args.n), (record, again)
    rows, booked = check_once(args.sample + args.n)

    print("EZPASS toll import")
    print(
        f"  naive per-row ORM loop: {args.sample:>9,} rows in {naive_seconds:8.2f} s = {args.sample / naive_seconds:>9,.0f}/s"
    )
    print(
        f"  import_charges:         {args.n:>9,} rows in {service_seconds:8.2f} s = {args.n / service_seconds:>9,.0f}/s "
        f"({record.booked:,} booked, {record.unmatched:,} queued)"
    )
    print(
        f"  the same file again:    {args.n:>9,} rows in {again_seconds:8.2f} s = {args.n / again_seconds:>9,.0f}/s (all duplicates)"
    )
    print(
        f"  speed-up: {(args.n / service_seconds) / (args.sample / naive_seconds):.1f}x; "
        f"{rows:,} rows imported once, {booked:,} booked once; the book balances"
    )


if __name__ == "__main__":
    main()
