#!/usr/bin/env python
"""Benchmark the weekly posting at scale, against two baselines measured in the same run.

    .venv/bin/python benchmarks/post_installments.py                 # 1,000,000 installments, 1 and 2 processes
    .venv/bin/python benchmarks/post_installments.py --n 100000 --workers 2
    .venv/bin/python benchmarks/post_installments.py --memory-chunk-sizes 1000 5000 20000

What it does, on the database of BENCH_DATABASE_URL: each way below is measured on the database
dropped, created and migrated again, holding just that way's due installments (loans of `--weeks`
overdue weekly installments each, at `--rate` % so every entry has three legs; written set-based,
not timed), so no way pays for another's rows or bloat:
1. (the set-up of each way, as above);
2. naive baseline: a per-installment ORM loop (entry, legs, open item, installment saved one by
   one, a transaction each) on `--sample` installments;
3. the service: loans.services posting `--n` installments in chunks of `--chunk-size`, once per
   value of `--workers` (processes sharing the chunks, as Celery workers do), with peak RSS;
4. SQL baseline: the same rows (entries, legs, open items, installments marked posted) written by
   one set-based SQL statement over `--sql-n` installments;
5. memory: for each of `--memory-chunk-sizes` (default 2,500 and 10,000), a fresh batch of
   `--memory-n` installments, and a quarter of that batch in chunks of the first size, each posted
   by one fresh process with its RSS sampled every few milliseconds; it says whether the peak
   stays flat across chunk sizes and run sizes (no row passes through Python);
after each way it checks that every installment was posted exactly once and the book balances.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import fresh_database, setup_django  # noqa: E402

MEMORY_TOLERANCE_MB = 8  # RSS sampling and allocator noise
START = date(2025, 1, 5)  # a Sunday; the posting is for the week of the last due installment


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--n", type=int, default=1_000_000, help="installments posted by the service (default 1,000,000)"
    )
    parser.add_argument(
        "--sql-n", type=int, default=None, help="installments for the one-statement baseline (default: --n)"
    )
    parser.add_argument("--sample", type=int, default=2_000, help="installments for the naive ORM loop (default 2,000)")
    parser.add_argument("--weeks", type=int, default=50, help="overdue weekly installments per loan (default 50)")
    parser.add_argument("--rate", default="10", help="annual interest rate, percent (default 10: three legs per entry)")
    parser.add_argument(
        "--chunk-size", type=int, default=None, help="installments per chunk (default LOANS_POSTING_CHUNK_SIZE)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="processes sharing the chunks, as Celery workers do; several values measure each on its own batch (default 1 2)",
    )
    parser.add_argument(
        "--memory-chunk-sizes",
        type=int,
        nargs="+",
        default=[2_500, 10_000],
        help="chunk sizes compared for peak memory, each on its own fresh batch (default 2500 10000)",
    )
    parser.add_argument(
        "--memory-n", type=int, default=None, help="installments per memory batch (default: --n, at most 200,000)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_posting"),
        help="dropped and created again (default: $BENCH_DATABASE_URL or bench_posting on the local server)",
    )
    return parser.parse_args()


def rss_mb() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """This process's peak RSS, sampled by a thread every few milliseconds (within chunks too).

    Sampled, not ru_maxrss: after fork+exec Linux reports the parent's peak as the child's.
    """

    def __init__(self, interval: float = 0.005) -> None:
        import threading

        self.peak = rss_mb()
        self._interval, self._stop = interval, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


# --- Data ----------------------------------------------------------------------------------------


def create_installments(*, batch: str, loans: int, weeks: int, rate: Decimal) -> tuple[int, int]:
    """`loans` loans of `weeks` due weekly installments each, written set-based; returns the id range."""
    from django.db import connection

    from loans.accounts import principal_account
    from loans.schedules import build_schedule

    schedule = build_schedule(
        principal=Decimal("2600.00"), annual_rate_percent=rate, installment_count=weeks, start=START
    )
    user_id = bench_user().pk
    principal_account()  # the chart of accounts exists before the posting starts
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO loans_driver (tlc_license_number, full_name, email, phone, status, created_at, updated_at) "
            "SELECT %s || lpad(g::text, 7, '0'), 'Bench driver ' || g, '', '', 'active', now(), now() FROM generate_series(1, %s) g "
            "RETURNING id",
            [f"{batch}-", loans],
        )
        driver_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO loans_lease (driver_id, lease_number, medallion_number, vehicle_vin, vehicle_plate, start_date, created_at) "
            "SELECT d, %s || d, '1X' || (d %% 100), '', '', '2024-01-01', now() FROM unnest(%s::bigint[]) d",
            [f"L{batch}-", driver_ids],
        )
        cursor.execute(
            "INSERT INTO ledger_account (code, name, type, currency, party_type, party_id, category, is_active, created_at) "
            "SELECT 'loans.driver:' || d || ':LOANS:USD', 'Bench driver ' || d || ' Loans', 'asset', 'USD', 'loans.driver', d::text, "
            "'LOANS', true, now() FROM unnest(%s::bigint[]) d",
            [driver_ids],
        )
        cursor.execute(
            "INSERT INTO loans_driverloan (loan_number, driver_id, lease_id, principal, annual_interest_rate, frequency, method, "
            "start_week, installment_count, purpose, status, created_by_id, receivable_account_id, created_at) "
            "SELECT 'DL-2025-' || lpad(d.id::text, 6, '0'), d.id, l.id, 2600.00, %s, 'weekly', 'annuity', %s, %s, 'bench', 'active', %s, a.id, now() "
            "FROM loans_driver d JOIN loans_lease l ON l.driver_id = d.id "
            "JOIN ledger_account a ON a.party_type = 'loans.driver' AND a.party_id = d.id::text "
            "WHERE d.id = ANY(%s)",
            [rate, START, weeks, user_id, driver_ids],
        )
        cursor.execute(
            "INSERT INTO loans_scheduleversion (loan_id, number, kind, from_sequence, balance, annual_interest_rate, "
            "installment_count, periods, capitalised_interest, reason, created_by_id, created_at) "
            "SELECT l.id, 1, 'booked', 1, l.principal, l.annual_interest_rate, l.installment_count, 0, 0, '', "
            "l.created_by_id, l.created_at FROM loans_driverloan l WHERE l.driver_id = ANY(%s)",
            [driver_ids],
        )
        cursor.execute(
            "WITH created AS (INSERT INTO loans_installment (loan_id, schedule_version_id, sequence, due_date, principal, interest, amount, balance_after, status, posting_attempt) "
            "SELECT l.id, v.id, s.sequence, s.due_date, s.principal, s.interest, s.principal + s.interest, s.balance_after, 'scheduled', 1 "
            "FROM loans_driverloan l JOIN loans_driver d ON d.id = l.driver_id "
            "JOIN loans_scheduleversion v ON v.loan_id = l.id AND v.number = 1 "
            "CROSS JOIN unnest(%s::int[], %s::date[], %s::numeric[], %s::numeric[], %s::numeric[]) "
            "AS s(sequence, due_date, principal, interest, balance_after) WHERE d.id = ANY(%s) RETURNING id) "
            "SELECT min(id), max(id) FROM created",
            [
                [row.sequence for row in schedule],
                [row.due_date for row in schedule],
                [row.principal for row in schedule],
                [row.interest for row in schedule],
                [row.balance_after for row in schedule],
                driver_ids,
            ],
        )
        first_id, last_id = cursor.fetchone()
        cursor.execute("ANALYZE")
    return first_id, last_id


def bench_user():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    return user


# --- The three ways ------------------------------------------------------------------------------


def naive_orm_loop(installment_ids: list[int], period_end: date) -> float:
    """What one would write first: for each installment, its own transaction and saves."""
    from django.db import transaction
    from django.utils import timezone

    from ledger import services as ledger
    from ledger.inputs import Leg
    from ledger.models import OpenItem
    from loans.accounts import interest_income_account, principal_account
    from loans.models import Installment

    principal, interest = principal_account(), interest_income_account()
    started = time.perf_counter()
    for installment_id in installment_ids:
        with transaction.atomic():
            installment = (
                Installment.objects.select_for_update()
                .select_related("loan__receivable_account")
                .get(pk=installment_id)
            )
            legs = [
                Leg(account=installment.loan.receivable_account, debit=installment.amount),
                Leg(account=principal, credit=installment.principal),
            ]
            if installment.interest:
                legs.append(Leg(account=interest, credit=installment.interest))
            entry = ledger.post_entry(
                idempotency_key=installment.posting_key,
                entry_date=installment.due_date,
                description="naive",
                source="bench.naive",
                legs=legs,
            )
            OpenItem.objects.create(
                account=installment.loan.receivable_account,
                entry=entry,
                amount=installment.amount,
                outstanding=installment.amount,
                due_date=installment.due_date,
            )
            installment.status, installment.posted_entry, installment.posted_at = "posted", entry, timezone.now()
            installment.save()
    return time.perf_counter() - started


def _chunk_worker(args) -> tuple[int, float, float, float]:
    """A fresh posting process: posts its share of the chunks; returns (posted, RSS before, peak
    RSS, seconds spent posting)."""
    database_url, run_id, chunks = args
    setup_django(database_url, migrate=False)
    from django.db import connection

    from loans.services import PostingChunk, post_installment_chunk

    connection.ensure_connection()
    before, posted, started = rss_mb(), 0, time.perf_counter()
    with PeakRss() as rss:
        for chunk in chunks:
            posted += post_installment_chunk(run_id=run_id, chunk=PostingChunk.from_dict(chunk)).posted
    return posted, before, rss.peak, time.perf_counter() - started


def service_run(
    *, period_start: date, period_end: date, chunk_size: int | None, workers: int, database_url: str
) -> dict:
    from django.db import connections

    from loans.selectors import posting_runs
    from loans.services import open_posting_run, post_installment_chunk

    baseline_rss = rss_mb()
    started = time.perf_counter()
    run, chunks = open_posting_run(period_start=period_start, period_end=period_end, chunk_size=chunk_size)
    planned_at = time.perf_counter()
    if workers == 1:
        with PeakRss() as rss:
            for chunk in chunks:
                post_installment_chunk(run_id=run.pk, chunk=chunk)
        worker_peaks = [rss.peak]
    else:
        connections.close_all()
        shares = [[chunk.as_dict() for chunk in chunks[index::workers]] for index in range(workers)]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_chunk_worker, [(database_url, run.pk, share) for share in shares])
        worker_peaks = [peak for _, _, peak, _ in results]
    elapsed = time.perf_counter() - started
    run = posting_runs().get(pk=run.pk)  # its figures, counted from rows
    return {
        "seconds": elapsed,
        "plan_seconds": planned_at - started,
        "chunks": len(chunks),
        "posted": run.posted,
        "failed": run.failed,
        "baseline_rss": baseline_rss,
        "peak_rss": max(worker_peaks),
    }


def memory_run(*, period_start: date, period_end: date, chunk_size: int, database_url: str) -> dict:
    """The batch posted by one fresh process (nothing allocated before it): its peak RSS."""
    from django.db import connections

    from loans.selectors import posting_runs
    from loans.services import open_posting_run

    run, chunks = open_posting_run(period_start=period_start, period_end=period_end, chunk_size=chunk_size)
    connections.close_all()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        ((_posted, before, peak, seconds),) = pool.map(
            _chunk_worker, [(database_url, run.pk, [chunk.as_dict() for chunk in chunks])]
        )
    run = posting_runs().get(pk=run.pk)  # its figures, counted from rows
    return {
        "chunk_size": chunk_size,
        "chunks": len(chunks),
        "posted": run.posted,
        "seconds": seconds,
        "before": before,
        "peak": peak,
    }


ONE_STATEMENT_SQL = """
WITH due AS (
    SELECT i.id, i.due_date, i.principal, i.interest, i.amount, l.receivable_account_id AS receivable,
           'sql.installment:' || i.id AS key
      FROM loans_installment i JOIN loans_driverloan l ON l.id = i.loan_id
     WHERE i.status = 'scheduled' AND i.due_date <= %(period_end)s AND l.status = 'active'
), entries AS (
    INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_at)
    SELECT key, due_date, 'one statement', 'bench.sql', now() FROM due
    RETURNING id, idempotency_key
), linked AS (
    SELECT d.*, e.id AS entry_id FROM due d JOIN entries e ON e.idempotency_key = d.key
), legs AS (
    INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
    SELECT entry_id, receivable, amount, 0, 'USD' FROM linked
    UNION ALL SELECT entry_id, %(principal)s, 0, principal, 'USD' FROM linked
    UNION ALL SELECT entry_id, %(interest)s, 0, interest, 'USD' FROM linked WHERE interest > 0
), items AS (
    INSERT INTO ledger_openitem (account_id, entry_id, amount, outstanding, due_date, status, reference)
    SELECT receivable, entry_id, amount, amount, due_date, 'open', '' FROM linked
)
UPDATE loans_installment i SET status = 'posted', posted_entry_id = linked.entry_id, posted_at = now()
  FROM linked WHERE i.id = linked.id
"""


def one_statement(period_end: date) -> tuple[float, int]:
    from django.db import connection, transaction

    from loans.accounts import interest_income_account, principal_account

    params: dict[str, Any] = {
        "period_end": period_end,
        "principal": principal_account().pk,
        "interest": interest_income_account().pk,
    }
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ONE_STATEMENT_SQL, params)
        updated = cursor.rowcount
    return time.perf_counter() - started, updated


def on_fresh_database(database_url: str, *, batch: str, n: int, weeks: int, rate: Decimal) -> tuple[int, int]:
    """Empty the database, migrate it and create `n` due installments: every way is measured on a
    database of its own holding the same shape of data, so none pays for another's rows."""
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    fresh_database(database_url)
    call_command("migrate", verbosity=0)
    return create_installments(batch=batch, loans=max(1, -(-n // weeks)), weeks=weeks, rate=rate)


def main() -> None:
    args = parse_args()
    if not args.database_url.startswith("postgres"):
        sys.exit("BENCH_DATABASE_URL (or --database-url) must be a PostgreSQL database you can empty.")
    fresh_database(args.database_url)
    setup_django(args.database_url)
    from django.conf import settings

    from loans.models import Installment
    from loans.periods import week_containing

    rate = Decimal(args.rate)
    sql_n = args.n if args.sql_n is None else args.sql_n
    memory_n = args.memory_n or min(args.n, 200_000)
    period_start, period_end = week_containing(START + timedelta(weeks=args.weeks - 1))
    chunk_size = args.chunk_size or settings.LOANS_POSTING_CHUNK_SIZE
    problems: list[str] = []

    def fresh(batch: str, n: int) -> tuple[int, int]:
        started = time.perf_counter()
        ids = on_fresh_database(args.database_url, batch=batch, n=n, weeks=args.weeks, rate=rate)
        print(
            f"  fresh database with {n:,} due installments ({args.weeks} overdue weeks per loan, {rate} % a year) "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        return ids

    def checked(way: str) -> None:
        problems.extend(f"{way}: {problem}" for problem in check_exactly_once())

    print("naive ORM loop on a sample ...", flush=True)
    naive_ids = fresh("N", args.sample)
    sample = list(
        Installment.objects.filter(pk__range=naive_ids).order_by("pk").values_list("pk", flat=True)[: args.sample]
    )
    naive_seconds = naive_orm_loop(sample, period_end)
    naive_rate = len(sample) / naive_seconds
    # The whole loans beyond the sample were never meant to be posted.
    Installment.objects.filter(pk__range=naive_ids, status="scheduled").update(status="cancelled")
    checked("naive loop")

    services_measured = []
    for workers in args.workers:
        print(f"service, {args.n:,} installments with {workers} process(es) ...", flush=True)
        fresh(f"S{workers}", args.n)
        service = service_run(
            period_start=period_start,
            period_end=period_end,
            chunk_size=chunk_size,
            workers=workers,
            database_url=args.database_url,
        )
        service["workers"], service["rate"] = workers, service["posted"] / service["seconds"]
        services_measured.append(service)
        checked(f"service with {workers} process(es)")

    memory_measured: list[dict[str, int]] = []
    # Each chunk size on the full batch, and the first one on a quarter of it too: the peak must
    # depend on neither the chunk size nor the number of installments.
    memory_plan = [(size, memory_n) for size in args.memory_chunk_sizes]
    memory_plan.append((args.memory_chunk_sizes[0], max(1, memory_n // 4)))
    for size, n in memory_plan:
        print(f"memory: {n:,} installments in chunks of {size:,} in a fresh process ...", flush=True)
        fresh(f"M{len(memory_measured)}", n)
        memory_measured.append(
            memory_run(
                period_start=period_start, period_end=period_end, chunk_size=size, database_url=args.database_url
            )
        )
        checked(f"memory run, {n:,} in chunks of {size:,}")

    print(f"one set-based SQL statement over {sql_n:,} installments ...", flush=True)
    fresh("Q", sql_n)
    sql_seconds, sql_rows = one_statement(period_end)
    sql_rate = sql_rows / sql_seconds
    checked("one statement")

    print()
    print(f"{'way':<46}{'installments':>14}{'seconds':>10}{'per second':>12}")
    print(f"{'naive ORM loop (sample)':<46}{len(sample):>14,}{naive_seconds:>10.1f}{naive_rate:>12,.0f}")
    for service in services_measured:
        label = f"service, chunks of {chunk_size:,}, {service['workers']} process(es)"
        print(f"{label:<46}{service['posted']:>14,}{service['seconds']:>10.1f}{service['rate']:>12,.0f}")
    print(f"{'one set-based SQL statement':<46}{sql_rows:>14,}{sql_seconds:>10.1f}{sql_rate:>12,.0f}")
    print()
    for service in services_measured:
        print(
            f"service with {service['workers']} process(es): {service['chunks']} chunks, planned in "
            f"{service['plan_seconds']:.1f} s, {service['failed']} failed; {service['rate'] / naive_rate:.0f}x the naive loop, "
            f"{service['rate'] / sql_rate:.0%} of one statement; RSS {service['baseline_rss']:.0f} MB before, "
            f"peak {service['peak_rss']:.0f} MB per posting process"
        )
    print()
    print("memory of one posting process (fresh, RSS sampled every 5 ms, within chunks too):")
    print(
        f"{'chunk size':>12}{'chunks':>9}{'installments':>14}{'per second':>12}{'RSS before':>12}{'peak RSS':>10}{'growth':>9}"
    )
    for memory in memory_measured:
        print(
            f"{memory['chunk_size']:>12,}{memory['chunks']:>9,}{memory['posted']:>14,}{memory['posted'] / memory['seconds']:>12,.0f}"
            f"{memory['before']:>10.0f} MB{memory['peak']:>7.0f} MB{memory['peak'] - memory['before']:>6.0f} MB"
        )
    growths = [memory["peak"] - memory["before"] for memory in memory_measured]
    sizes = sorted({memory["chunk_size"] for memory in memory_measured})
    counts = sorted({memory["posted"] for memory in memory_measured})
    flat = max(growths) - min(growths) <= MEMORY_TOLERANCE_MB
    print(
        f"peak growth {min(growths):.0f}..{max(growths):.0f} MB for chunks of {sizes[0]:,}..{sizes[-1]:,} and runs of "
        f"{counts[0]:,}..{counts[-1]:,} installments: "
        + (
            f"flat within {MEMORY_TOLERANCE_MB} MB, so bounded by neither the chunk size nor the run"
            if flat
            else f"NOT flat (more than {MEMORY_TOLERANCE_MB} MB apart)"
        )
    )
    best = max(service["rate"] for service in services_measured)
    target = 10_000
    print(
        f"target >= {target:,}/s: {'met' if best >= target else 'NOT met'} (best {best:,.0f}/s); "
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print("exactly once and balanced: " + ("yes" if not problems else "NO: " + "; ".join(problems)))
    sys.exit(1 if problems else 0)


def check_exactly_once() -> list[str]:
    from django.db import connection

    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = 'posted'), count(*) FILTER (WHERE status = 'scheduled'), "
            "count(DISTINCT posted_entry_id) FROM loans_installment"
        )
        posted, scheduled, entries = cursor.fetchone()
        if scheduled or posted != entries:
            problems.append(f"{scheduled} installments unposted, {posted} posted with {entries} distinct entries")
        cursor.execute("SELECT count(*) FROM ledger_journalentry")
        if cursor.fetchone()[0] != posted:
            problems.append(f"journal entries do not match the {posted} posted installments one to one")
        cursor.execute("SELECT coalesce(sum(debit) - sum(credit), 0) FROM ledger_posting")
        if cursor.fetchone()[0] != 0:
            problems.append("the book does not balance")
    return problems


if __name__ == "__main__":
    main()
