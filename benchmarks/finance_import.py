"""Benchmark: import N transactions from a CSV file, set-based, beside a naive row-by-row import.

    .venv/bin/python benchmarks/finance_import.py [--rows 1000000] [--baseline-rows 10000]

The database (BENCH_DATABASE_URL, a name starting with "bench") is dropped and recreated. The
fast path is `finance.services.import_transactions_csv` (COPY into a temporary table, then
INSERT ... SELECT ... ON CONFLICT DO NOTHING, a transaction per chunk). It is run twice: the
second run must add nothing (idempotency). The naive baseline, measured in the same run on a
sample of the same file, reads each row with csv.DictReader and stores it with get_or_create
after full_clean, one transaction per row, as a straightforward ORM implementation would.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._finance_bench import (
    DEFAULT_DATABASE_URL,
    fresh_database,
    make_customers,
    peak_rss_mb,
    row,
    setup_django,
    timed,
)

CATEGORIES = ["groceries", "Food & Drink", "transport", "rent", "utilities", "shopping", "payroll", ""]
BAD_EVERY = 10_000  # one malformed row in this many, to exercise the error report


def write_csv(path: Path, rows: int, accounts: list[str], seed: int = 11) -> int:
    """A deterministic export; returns how many rows are malformed on purpose."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    bad = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account", "transaction_id", "date", "amount", "name", "merchant", "category", "pending"])
        for n in range(rows):
            cents = rng.randrange(1, 250_000)
            amount = f"{'' if rng.random() < 0.1 else '-'}{cents // 100}.{cents % 100:02d}"
            if n % BAD_EVERY == BAD_EVERY - 1:
                amount, bad = "12.345", bad + 1
            writer.writerow(
                [
                    accounts[n % len(accounts)],
                    f"tx-{n:09d}",
                    (start + timedelta(days=n % 900)).isoformat(),
                    amount,
                    f"Merchant {n % 5000}",
                    f"Merchant {n % 5000}",
                    CATEGORIES[n % len(CATEGORIES)],
                    "false",
                ]
            )
    return bad


def naive_import(path: Path, limit: int, connection_id: int) -> int:
    """What a first version would do: one get_or_create per row, each in its own transaction."""
    from django.db import transaction

    from finance.models import Account, Transaction
    from finance.validators import normalize_category

    accounts = {
        a.provider_account_id: a for a in Account.objects.filter(connection_id=connection_id).select_related("customer")
    }
    inserted = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for n, record in enumerate(csv.DictReader(handle)):
            if n >= limit:
                break
            try:
                account = accounts[record["account"]]
                amount = Decimal(record["amount"])
                if amount != amount.quantize(Decimal("0.01")):
                    continue
                with transaction.atomic():
                    candidate = Transaction(
                        account=account,
                        customer_id=account.customer_id,
                        partner_id=account.customer.partner_id,
                        provider_transaction_id=record["transaction_id"],
                        date=date.fromisoformat(record["date"]),
                        amount=amount,
                        name=record["name"],
                        merchant_name=record["merchant"],
                        category=normalize_category(record["category"]),
                        pending=record["pending"] == "true",
                    )
                    candidate.full_clean(validate_unique=False, validate_constraints=False)
                    _, created = Transaction.objects.get_or_create(
                        account=account,
                        provider_transaction_id=candidate.provider_transaction_id,
                        defaults={
                            f: getattr(candidate, f)
                            for f in ("customer_id", "date", "amount", "name", "merchant_name", "category", "pending")
                        },
                    )
                    inserted += created
            except (KeyError, ValueError, ArithmeticError):
                continue
    return inserted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the CSV file (default 1,000,000)")
    parser.add_argument("--baseline-rows", type=int, default=10_000, help="rows the naive import is timed on")
    parser.add_argument("--accounts", type=int, default=5, help="accounts the rows are spread over")
    parser.add_argument("--chunk-size", type=int, default=5_000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    fresh_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection

    from finance import services
    from finance.models import Transaction

    fast_customer, naive_customer = make_customers(2)
    labels = [f"acct-{n}" for n in range(args.accounts)]
    banks = []
    for customer_id in (fast_customer, naive_customer):
        bank = services.connect_bank(customer_id=customer_id, provider="manual", institution_name="Bench bank")
        for label in labels:
            services.open_account(
                connection_id=bank.pk,
                data=services.AccountData(
                    provider_account_id=label, name=label, type="checking", current_balance=Decimal("0.00")
                ),
            )
        banks.append(bank)
    fast_bank, naive_bank = banks

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "transactions.csv"
        with timed(seconds, "write csv"):
            bad = write_csv(path, args.rows, labels)
        size_mb = path.stat().st_size / 1e6
        rss_before = peak_rss_mb()
        with path.open("rb") as handle, timed(seconds, "fast"):
            first = services.import_transactions_csv(
                connection_id=fast_bank.pk, csv_file=handle, chunk_size=args.chunk_size
            )
        rss_after = peak_rss_mb()
        with path.open("rb") as handle, timed(seconds, "again"):
            again = services.import_transactions_csv(
                connection_id=fast_bank.pk, csv_file=handle, chunk_size=args.chunk_size
            )
        baseline_rows = min(args.baseline_rows, args.rows)
        with timed(seconds, "naive"):
            naive_inserted = naive_import(path, baseline_rows, naive_bank.pk)

    stored = Transaction.objects.filter(account__connection=fast_bank).count()
    assert (first.inserted, first.rejected, stored) == (args.rows - bad, bad, args.rows - bad), (first, stored)
    assert (again.inserted, again.duplicates, again.rejected) == (0, args.rows - bad, bad)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('finance_transaction'))")
        table_size = cursor.fetchone()[0]

    fast_rate = args.rows / seconds["fast"]
    naive_rate = baseline_rows / seconds["naive"]
    print(
        f"\nImport of {args.rows:,} CSV transactions ({size_mb:.0f} MB, {args.accounts} accounts, "
        f"{bad} malformed rows) on PostgreSQL {connection.cursor().connection.info.server_version // 10000}; table now {table_size}"
    )
    widths = [44, 12, 10, 12, 14]
    print(row(["path", "rows", "seconds", "rows/s", f"for {args.rows:,}"], widths))
    print(
        row(
            [
                "set-based import (COPY + INSERT ON CONFLICT)",
                f"{args.rows:,}",
                f"{seconds['fast']:.1f}",
                f"{fast_rate:,.0f}",
                f"{seconds['fast']:.1f} s",
            ],
            widths,
        )
    )
    print(
        row(
            [
                "same file again (adds nothing)",
                f"{args.rows:,}",
                f"{seconds['again']:.1f}",
                f"{args.rows / seconds['again']:,.0f}",
                f"{seconds['again']:.1f} s",
            ],
            widths,
        )
    )
    print(
        row(
            [
                "naive get_or_create per row (measured)",
                f"{baseline_rows:,}",
                f"{seconds['naive']:.1f}",
                f"{naive_rate:,.0f}",
                f"~{args.rows / naive_rate:,.0f} s (est.)",
            ],
            widths,
        )
    )
    print(
        f"\nspeed-up over naive: {fast_rate / naive_rate:,.0f}x; report: inserted {first.inserted:,}, "
        f"rejected {first.rejected} (first: line {first.errors[0].position if first.errors else '-'}); "
        f"re-import: duplicates {again.duplicates:,}; naive inserted {naive_inserted:,}"
    )
    print(
        f"peak RSS: {rss_before:.0f} MB before the import, {rss_after:.0f} MB after "
        f"(chunks of {args.chunk_size:,} rows; memory does not grow with the file)"
    )


if __name__ == "__main__":
    main()
