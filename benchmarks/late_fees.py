#!/usr/bin/env python
"""Benchmark the nightly late-fee job at a million installments, beside a naive baseline.

    .venv/bin/python benchmarks/admin_scale.py --build-only --template bench_admin_template   # once (~10 min)
    .venv/bin/python benchmarks/late_fees.py [--template bench_admin_template] [--naive-loans N]

On a copy of the admin_scale data set (1,000,000 installments of about 9,600 active loans, half
posted, about 400,000 open items; `--template` names the copy to start from), migrated, every
active loan is given late-fee terms (odd ids a flat 15.00, even ids 5 % of the installment capped
at 10.00, 3 grace days); that database is copied again for the baseline. Then:
1. the service (`loans.services.charge_late_fees`) charges every overdue installment, one
   transaction per chunk of loan ids through the ledger's staged charges, timed, its statements
   counted, with the Python process's CPU; then run again (it must charge nothing);
2. on the copy, the naive baseline charges the same way one installment at a time with the ORM
   (find the item, compute the fee in Python, `ledger.post_charges` of one charge, a LateFee row,
   the driver's credit applied), on all loans or the first `--naive-loans` of them;
3. both must agree installment by installment (fee amount) on the loans the baseline did.
`as_of` is seven days after the last posted due date.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import recreate_database, setup_django  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default="bench_admin_template", help="the database to copy (admin_scale's)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_late_fees"),
    )
    parser.add_argument("--chunk-size", type=int, default=5000, help="loan ids per transaction (the service)")
    parser.add_argument("--naive-loans", type=int, default=300, help="loans the baseline charges (0: all)")
    return parser.parse_args()


def set_terms() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE loans_driverloan SET late_fee_grace_days = 3, "
            "late_fee_kind = CASE WHEN id % 2 = 1 THEN 'flat' ELSE 'percent' END, "
            "late_fee_amount = CASE WHEN id % 2 = 1 THEN 15.00 ELSE 0 END, "
            "late_fee_percent = CASE WHEN id % 2 = 1 THEN 0 ELSE 5 END, "
            "late_fee_cap = CASE WHEN id % 2 = 1 THEN NULL ELSE 10.00 END "
            "WHERE status = 'active'"
        )
        return cursor.rowcount


def naive_charge(as_of, loan_ids: list[int]) -> int:
    """What one would write first: per loan, per posted installment, look, compute, book, record."""
    from django.db import transaction

    from ledger import services as ledger
    from ledger.inputs import Charge
    from ledger.models import Category, OpenItem
    from loans import accounts
    from loans.models import DriverLoan, Installment, LateFee

    income = accounts.late_fee_income_account()
    charged = 0
    for loan in DriverLoan.objects.filter(pk__in=loan_ids).select_related("driver").order_by("pk"):
        for installment in Installment.objects.filter(loan=loan, status="posted").order_by("pk"):
            with transaction.atomic():
                item = OpenItem.objects.filter(entry_id=installment.posted_entry_id).first()
                if item is None or item.status != "open":
                    continue
                if (as_of - installment.due_date).days <= loan.late_fee_grace_days:
                    continue
                if LateFee.objects.filter(installment=installment).exists():
                    continue
                if loan.late_fee_kind == "flat":
                    fee = loan.late_fee_amount
                else:
                    fee = loan.rounding.money(installment.amount * loan.late_fee_percent / Decimal(100))
                    if loan.late_fee_cap is not None:
                        fee = min(fee, loan.late_fee_cap)
                receivable = ledger.open_party_account(
                    party=accounts.driver_party(loan.driver_id), category=Category.PENALTY, name=loan.driver.full_name
                )
                key = f"loans.late_fee:{installment.pk}"
                booked = ledger.post_charges(
                    charges=[
                        Charge(
                            idempotency_key=key,
                            entry_date=as_of,
                            due_date=as_of,
                            description=f"{loan.loan_number} late fee on installment {installment.sequence}",
                            reference=f"{loan.loan_number} #{installment.sequence} late fee",
                            receivable_account_id=receivable.pk,
                            credits=((income.pk, fee),),
                        )
                    ],
                    source="loans.late_fee",
                )
                LateFee.objects.create(
                    installment=installment,
                    loan=loan,
                    amount=fee,
                    charged_on=as_of,
                    entry_id=booked[key].entry_id,
                    open_item_id=booked[key].open_item_id,
                )
                ledger.apply_party_credit(party=accounts.driver_party(loan.driver_id), applied_on=as_of)
                charged += 1
    return charged


def fees(loan_ids: list[int] | None = None) -> dict[int, Decimal]:
    from loans.models import LateFee

    rows = LateFee.objects.all() if loan_ids is None else LateFee.objects.filter(loan_id__in=loan_ids)
    return dict(rows.values_list("installment_id", "amount"))


def switch_database(url: str) -> None:
    from django.db import connections

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = urlparse(url).path.lstrip("/")


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    recreate_database(args.database_url, template=args.template)
    setup_django(args.database_url)
    terms = set_terms()
    naive_url = args.database_url + "_naive"
    switch_database(args.database_url)  # no session may stay on the database copied next
    recreate_database(naive_url, template=urlparse(args.database_url).path.lstrip("/"))
    print(
        f"copied {args.template}, migrated, terms on {terms} loans, copied again in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )

    from django.db import connection
    from django.db.models import Max
    from django.test.utils import CaptureQueriesContext

    from loans.models import DriverLoan, Installment
    from loans.services import charge_late_fees

    as_of = Installment.objects.filter(status="posted").aggregate(last=Max("due_date"))["last"] + timedelta(days=7)
    installments = Installment.objects.count()
    loan_ids = list(DriverLoan.objects.filter(status="active").order_by("pk").values_list("pk", flat=True))

    cpu, wall = time.process_time(), time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        result = charge_late_fees(as_of=as_of, chunk_size=args.chunk_size)
    service_s, service_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"service: {result.charged} fees, {result.amount} in {service_s:.1f} s", flush=True)
    wall = time.perf_counter()
    rerun = charge_late_fees(as_of=as_of, chunk_size=args.chunk_size)
    rerun_s = time.perf_counter() - wall
    sample = loan_ids[: args.naive_loans] if args.naive_loans else loan_ids
    by_service = fees(sample)

    switch_database(naive_url)
    cpu, wall = time.process_time(), time.perf_counter()
    with CaptureQueriesContext(connection) as naive_queries:
        naive_charged = naive_charge(as_of, sample)
    naive_s, naive_cpu = time.perf_counter() - wall, time.process_time() - cpu
    by_naive = fees(sample)
    print(f"naive: {len(sample)} loans, {naive_charged} fees in {naive_s:.1f} s", flush=True)

    print(
        f"\n{installments:,} installments, {len(loan_ids):,} active loans, as of {as_of}; chunks of "
        f"{args.chunk_size} loan ids; load average {os.getloadavg()[0]:.1f}"
    )
    print("| Way | Loans | Fees charged | Seconds | Fees/s | Statements | Python CPU s |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| service (set-based) | {len(loan_ids):,} | {result.charged:,} | {service_s:.1f} | "
        f"{result.charged / service_s:,.0f} | {len(queries)} | {service_cpu:.2f} |"
    )
    print(
        f"| naive per-installment ORM | {len(sample):,} | {naive_charged:,} | {naive_s:.1f} | "
        f"{naive_charged / naive_s:,.0f} | {len(naive_queries):,} | {naive_cpu:.2f} |"
    )
    print(f"| service rerun | {len(loan_ids):,} | {rerun.charged} | {rerun_s:.1f} | | | |")
    if naive_charged:
        print(f"\nspeed-up per fee: {(naive_s / naive_charged) / (service_s / result.charged):.0f}x")
    if rerun.charged or not result.success:
        raise SystemExit(f"FAILED: the rerun charged {rerun.charged}; failed chunks {result.failed_chunks}")
    if by_naive != by_service:
        differing = [pk for pk in set(by_naive) | set(by_service) if by_naive.get(pk) != by_service.get(pk)]
        raise SystemExit(f"FAILED: {len(differing)} installments charged differently, e.g. {differing[:5]}")
    print(f"same fee on all {len(by_service):,} installments of the {len(sample):,} loans compared")


if __name__ == "__main__":
    main()
