#!/usr/bin/env python
"""Benchmark the nightly delinquency classification at a million installments, beside a naive baseline.

    .venv/bin/python benchmarks/admin_scale.py --build-only --template bench_admin_template   # once (~10 min)
    .venv/bin/python benchmarks/delinquency.py [--template bench_admin_template] [--naive-loans N]

On a copy of the admin_scale data set (1,000,000 installments of about 9,600 active loans, half
posted, about 400,000 open items; `--template` names the copy to start from), migrated:
1. the service (`loans.services.classify_delinquency`): one statement per chunk of loan ids,
   timed, with its statements counted and the Python process's CPU;
2. the stored states and history are emptied, then the naive baseline classifies the same loans
   with a per-loan ORM loop (the oldest unpaid due date, the class in Python, the state saved and
   a history row written one by one), on all loans or `--naive-loans` of them;
3. both must agree loan by loan (days, oldest due date, class), or the run fails.
`as_of` is three days after the last posted due date, so most loans with arrears are past due.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import StatementCounter, recreate_database, setup_django  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="bench_admin_template", help="the database to copy (admin_scale's)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_delinquency"),
    )
    parser.add_argument("--chunk-size", type=int, default=5000, help="loan ids per statement (the service)")
    parser.add_argument("--naive-loans", type=int, default=None, help="loans the baseline classifies (default all)")
    return parser.parse_args()


def naive_classify(as_of, loan_ids: list[int]) -> int:
    """What one would write first: per loan, its oldest unpaid due date, the class, two saves."""
    from django.db import transaction
    from django.db.models import Min

    from ledger.models import OpenItem
    from loans.models import DelinquencyClass, Installment, LoanDelinquency, LoanDelinquencyChange

    classes = list(DelinquencyClass.objects.all())
    changes = 0
    for loan_id in loan_ids:
        with transaction.atomic():
            entries = Installment.objects.filter(loan_id=loan_id, status="posted").values("posted_entry_id")
            oldest = OpenItem.objects.filter(entry_id__in=entries, status="open", due_date__lte=as_of).aggregate(
                oldest=Min("due_date")
            )["oldest"]
            days = (as_of - oldest).days if oldest else 0
            found = next(
                (c for c in classes if c.min_days <= days and (c.max_days is None or days <= c.max_days)), None
            )
            state = LoanDelinquency.objects.filter(loan_id=loan_id).first()
            if state is None or state.delinquency_class_id != (found.pk if found else None):
                LoanDelinquencyChange.objects.create(
                    loan_id=loan_id,
                    as_of=as_of,
                    from_class_id=state.delinquency_class_id if state else None,
                    to_class=found,
                    days_past_due=days,
                )
                changes += 1
            LoanDelinquency.objects.update_or_create(
                loan_id=loan_id,
                defaults={
                    "days_past_due": days,
                    "oldest_overdue": oldest,
                    "delinquency_class": found,
                    "as_of": as_of,
                    "class_since": as_of,
                },
            )
    return changes


def states() -> dict[int, tuple]:
    from loans.models import LoanDelinquency

    return {
        loan_id: (days, oldest, class_id)
        for loan_id, days, oldest, class_id in LoanDelinquency.objects.values_list(
            "loan_id", "days_past_due", "oldest_overdue", "delinquency_class_id"
        )
    }


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    recreate_database(args.database_url, template=args.template)
    setup_django(args.database_url)
    print(f"copied {args.template} and migrated in {time.perf_counter() - started:.0f} s", flush=True)

    from django.db import connection
    from django.db.models import Max

    from loans.models import DriverLoan, Installment, LoanDelinquency, LoanDelinquencyChange
    from loans.services import classify_delinquency

    as_of = Installment.objects.filter(status="posted").aggregate(last=Max("due_date"))["last"] + timedelta(days=3)
    installments = Installment.objects.count()
    loan_ids = list(DriverLoan.objects.filter(status="active").order_by("pk").values_list("pk", flat=True))

    cpu, wall = time.process_time(), time.perf_counter()
    queries = StatementCounter()
    with connection.execute_wrapper(queries):
        result = classify_delinquency(as_of=as_of, chunk_size=args.chunk_size)
    service_s, service_cpu = time.perf_counter() - wall, time.process_time() - cpu
    by_service = states()
    print(f"service: {result.loans} loans, {result.changes} changes in {service_s:.1f} s", flush=True)

    LoanDelinquencyChange.objects.all().delete()
    LoanDelinquency.objects.all().delete()
    sample = loan_ids[: args.naive_loans] if args.naive_loans else loan_ids
    cpu, wall = time.process_time(), time.perf_counter()
    naive_queries = StatementCounter()
    with connection.execute_wrapper(naive_queries):
        naive_changes = naive_classify(as_of, sample)
    naive_s, naive_cpu = time.perf_counter() - wall, time.process_time() - cpu
    by_naive = states()
    print(f"naive: {len(sample)} loans, {naive_changes} changes in {naive_s:.1f} s", flush=True)

    differing = [pk for pk in sample if by_naive.get(pk) != by_service.get(pk)]
    print(
        f"\n{installments:,} installments, {len(loan_ids):,} active loans, as of {as_of}; chunks of "
        f"{args.chunk_size} loan ids; load average {os.getloadavg()[0]:.1f}"
    )
    print("| Way | Loans | Changes | Seconds | Loans/s | Statements | Python CPU s |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| service (set-based) | {result.loans:,} | {result.changes:,} | {service_s:.1f} | "
        f"{result.loans / service_s:,.0f} | {queries.count} | {service_cpu:.2f} |"
    )
    print(
        f"| naive per-loan ORM | {len(sample):,} | {naive_changes:,} | {naive_s:.1f} | {len(sample) / naive_s:,.0f} "
        f"| {naive_queries.count:,} | {naive_cpu:.2f} |"
    )
    print(f"\nspeed-up per loan: {(naive_s / len(sample)) / (service_s / result.loans):.0f}x")
    if differing:
        raise SystemExit(f"FAILED: {len(differing)} loans classified differently, e.g. {differing[:5]}")
    print(f"same days, oldest due date and class for all {len(sample):,} loans compared")


if __name__ == "__main__":
    main()
