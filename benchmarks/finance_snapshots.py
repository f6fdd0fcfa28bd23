"""Benchmark: the nightly net-worth snapshot of N customers, set-based, beside a per-customer loop.

    .venv/bin/python benchmarks/finance_snapshots.py [--customers 100000] [--baseline-customers 2000]

The database (BENCH_DATABASE_URL, a name starting with "bench") is dropped and recreated, then
filled with N customers, one bank connection each and --accounts-per-customer accounts
(checking, savings, credit card...). Snapshots are for today only (balances are as they are
now). The naive baseline runs first, on a sample of the customers: it calls
`take_net_worth_snapshot` once per customer, as a loop over customers would; its snapshots are
kept aside and deleted. The set-based path is `take_net_worth_snapshots` (per chunk of
customers, one query finds those already done and one INSERT ... SELECT of the net-worth
selector's rows writes the others; one NetWorthSnapshotRun row per run); it is run twice, the
second run must create nothing, and its figures must equal the naive ones.
"""

from __future__ import annotations

import argparse
import random
import sys
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

ACCOUNT_TYPES = ["checking", "savings", "credit", "investment", "loan"]


def make_accounts(customer_ids: list[int], per_customer: int, seed: int = 5, batch_size: int = 5000) -> int:
    from finance.models import Account, BankConnection

    rng = random.Random(seed)
    made = 0
    for start in range(0, len(customer_ids), batch_size):
        chunk = customer_ids[start : start + batch_size]
        banks = BankConnection.objects.bulk_create(
            [BankConnection(customer_id=c, provider="manual", institution_name="Bench bank") for c in chunk]
        )
        accounts = [
            Account(
                connection_id=bank.pk,
                customer_id=bank.customer_id,
                provider_account_id=f"a{n}",
                name=f"Account {n}",
                type=ACCOUNT_TYPES[n % len(ACCOUNT_TYPES)],
                current_balance=Decimal(rng.randrange(-5_000, 5_000_000)) / 100,
                currency="USD" if rng.random() < 0.98 else "EUR",
            )
            for bank in banks
            for n in range(per_customer)
        ]
        Account.objects.bulk_create(accounts)
        made += len(accounts)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000, help="customers to snapshot (default 100,000)")
    parser.add_argument("--accounts-per-customer", type=int, default=3)
    parser.add_argument("--baseline-customers", type=int, default=2_000, help="customers the naive loop is timed on")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()

    fresh_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection
    from django.utils import timezone

    from finance import services
    from finance.models import NetWorthSnapshot

    seconds: dict[str, float] = {}
    with timed(seconds, "setup"):
        customer_ids = make_customers(args.customers)
        accounts = make_accounts(customer_ids, args.accounts_per_customer)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"set-up: {args.customers:,} customers, {accounts:,} accounts in {seconds['setup']:.0f} s")

    day = timezone.localdate()
    sample = customer_ids[: min(args.baseline_customers, args.customers)]
    with timed(seconds, "naive"):
        for customer_id in sample:
            services.take_net_worth_snapshot(customer_id=customer_id)
    slow = dict(NetWorthSnapshot.objects.filter(date=day).values_list("customer_id", "net_worth"))
    with connection.cursor() as cursor:  # make room for the set-based run of the same day
        cursor.execute("DELETE FROM finance_networthsnapshot WHERE date = %s", [day])

    rss_before = peak_rss_mb()
    with timed(seconds, "fast"):
        first = services.take_net_worth_snapshots(batch_size=args.batch_size)
    rss_after = peak_rss_mb()
    with timed(seconds, "again"):
        again = services.take_net_worth_snapshots(batch_size=args.batch_size)

    assert (first.customers, first.created, first.already_taken) == (args.customers, args.customers, 0), first
    assert (again.created, again.already_taken) == (0, args.customers), again
    assert NetWorthSnapshot.objects.filter(date=day).count() == args.customers
    # Both paths compute the same figures.
    fast = dict(
        NetWorthSnapshot.objects.filter(date=day, customer_id__in=sample).values_list("customer_id", "net_worth")
    )
    assert fast == slow and len(slow) == len(sample)

    fast_rate = args.customers / seconds["fast"]
    naive_rate = len(sample) / seconds["naive"]
    print(
        f"\nNet-worth snapshot of {args.customers:,} customers ({args.accounts_per_customer} accounts each) "
        f"on PostgreSQL {connection.cursor().connection.info.server_version // 10000}"
    )
    widths = [44, 12, 10, 14, 16]
    print(row(["path", "customers", "seconds", "customers/s", f"for {args.customers:,}"], widths))
    print(
        row(
            [
                "set-based take_net_worth_snapshots",
                f"{args.customers:,}",
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
                "same day again (creates nothing)",
                f"{args.customers:,}",
                f"{seconds['again']:.1f}",
                f"{args.customers / seconds['again']:,.0f}",
                f"{seconds['again']:.1f} s",
            ],
            widths,
        )
    )
    print(
        row(
            [
                "naive loop of take_net_worth_snapshot",
                f"{len(sample):,}",
                f"{seconds['naive']:.1f}",
                f"{naive_rate:,.0f}",
                f"~{args.customers / naive_rate:,.0f} s (est.)",
            ],
            widths,
        )
    )
    print(
        f"\nspeed-up over naive: {fast_rate / naive_rate:,.0f}x; identical figures on the {len(sample):,} sampled customers"
    )
    print(f"peak RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after (chunks of {args.batch_size:,} customers)")


if __name__ == "__main__":
    main()
