"""Benchmark: the book's reports on a big book, beside a naive per-account baseline.

    .venv/bin/python benchmarks/book_reports.py [--drivers 50000] [--entries 500000] [--baseline-accounts 2000]

The database (BENCH_DATABASE_URL, a name starting with "bench") is dropped and recreated, then
filled set-based (INSERT ... SELECT generate_series, chunks of 100,000 entries a transaction, the
book's triggers on): a receivable per driver, and entries over a year of which four in five bill
a driver (Dr its receivable, Cr 4100) and one in five is a payment (Dr 1000 cash, Cr its
receivable). Then it times:

- the trial balance rolled up per party ledger (the admin's default page) and every account
  streamed (the CSV), with the peak RSS of the process, and checks that it sums to zero;
- the naive baseline: the balance of each account by one aggregate per account (the N+1 a page
  would make), on --baseline-accounts accounts, extrapolated to all;
- the cash account's statement (one posting in five of the book): the first page of 500 and a
  deep page reached by the cursor, beside the page at the same depth read by OFFSET;
- a driver's statement for a week.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._setup import fresh_database, setup_django

DEFAULT_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_book")
START = date(2025, 1, 5)
CHUNK = 100_000


def build(drivers: int, entries: int) -> None:
    from django.db import connection, transaction

    from ledger.services import open_account

    open_account(code="1000", name="Cash at bank", type="asset")
    open_account(code="4100", name="Driver loan interest income", type="income")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO ledger_account (code, name, type, currency, party_type, party_id, category, is_active, created_at)
               SELECT 'loans.driver:' || n || ':LOANS:USD', 'Driver ' || n || ' Loans', 'asset', 'USD', 'loans.driver',
                      n::text, 'LOANS', true, now()
               FROM generate_series(1, %s) n""",
            [drivers],
        )
    for first in range(1, entries + 1, CHUNK):
        last = min(first + CHUNK - 1, entries)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_at)
                   SELECT 'bench:' || n, %s::date + (n %% 365), CASE WHEN n %% 5 = 0 THEN 'Payment' ELSE 'Charge' END,
                          CASE WHEN n %% 5 = 0 THEN 'ledger.payment' ELSE 'bench.charge' END, now()
                   FROM generate_series(%s, %s) n""",
                [START, first, last],
            )
            cursor.execute(
                """WITH e AS (
                       SELECT je.id, substr(je.idempotency_key, 7)::int AS n FROM ledger_journalentry je
                       WHERE je.idempotency_key LIKE 'bench:%%' AND je.id >= (
                           SELECT min(id) FROM ledger_journalentry WHERE idempotency_key = 'bench:' || %s)
                   ), legs AS (
                       SELECT e.id, e.n, 'loans.driver:' || (e.n %% %s + 1) || ':LOANS:USD' AS driver,
                              (10 + e.n %% 90)::numeric(16, 2) AS amount FROM e
                   )
                   INSERT INTO ledger_posting (entry_id, account_id, debit, credit, currency)
                   SELECT legs.id, d.id, CASE WHEN legs.n %% 5 = 0 THEN 0 ELSE legs.amount END,
                          CASE WHEN legs.n %% 5 = 0 THEN legs.amount ELSE 0 END, 'USD'
                   FROM legs JOIN ledger_account d ON d.code = legs.driver
                   UNION ALL
                   SELECT legs.id, o.id, CASE WHEN legs.n %% 5 = 0 THEN legs.amount ELSE 0 END,
                          CASE WHEN legs.n %% 5 = 0 THEN 0 ELSE legs.amount END, 'USD'
                   FROM legs JOIN ledger_account o ON o.code = CASE WHEN legs.n %% 5 = 0 THEN '1000' ELSE '4100' END""",
                [first, drivers],
            )
        print(f"  built entries {first:,}-{last:,}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(label: str, function):
    started = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - started
    print(f"{label:<64} {seconds * 1000:>10.1f} ms", flush=True)
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drivers", type=int, default=50_000)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--baseline-accounts", type=int, default=2_000)
    parser.add_argument(
        "--no-build", action="store_true", help="time the reports on the book a previous run built (same sizes)"
    )
    args = parser.parse_args()

    if not args.no_build:
        fresh_database(DEFAULT_DATABASE_URL)
    setup_django(DEFAULT_DATABASE_URL, migrate=not args.no_build)
    from ledger.models import Account
    from ledger.parties import Party
    from ledger.selectors import account_balance
    from ledger.statements import STATEMENT_KEY, account_statement, party_statement, trial_balance, trial_balance_export

    build_seconds = 0.0
    if not args.no_build:
        print(f"Building {args.drivers:,} driver accounts and {args.entries:,} entries ({args.entries * 2:,} postings)")
        _, build_seconds = timed("build (set-based, triggers on)", lambda: build(args.drivers, args.entries))
    as_of = date(2026, 1, 3)

    rolled, _ = timed(
        "trial balance, party ledgers rolled up (admin page)", lambda: trial_balance(as_of=as_of, by_ledger=True)
    )
    assert rolled.balances and len(rolled.rows) == 3, rolled.totals
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows, _ = timed(
        "trial balance, every account streamed (CSV rows)",
        lambda: sum(1 for _ in trial_balance_export(as_of=as_of, by_ledger=False)),
    )
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'  rows, peak RSS before/after (MB)':<64} {rows:>10,} {rss_before:.0f}/{rss_after:.0f}")
    accounts = list(Account.objects.order_by("pk")[: args.baseline_accounts])
    _, naive = timed(
        f"naive: one aggregate per account, {len(accounts):,} accounts",
        lambda: [account_balance(account=a, as_of=as_of) for a in accounts],
    )
    print(f"{'  naive extrapolated to every account (s)':<64} {naive / len(accounts) * (args.drivers + 2):>10.1f}")

    cash = Account.objects.get(code="1000")
    first_page, _ = timed(
        "cash statement, a year, first page of 500",
        lambda: account_statement(account=cash, date_from=START, date_to=as_of, limit=500),
    )
    page = first_page
    depth = 0
    while page.next is not None and depth < 100:
        page = account_statement(account=cash, date_from=START, date_to=as_of, after=page.next, limit=500)
        depth += 1
    deep_cursor = page.next
    if deep_cursor is not None:  # reads its lines only: the cursor carries the figures
        timed(
            f"cash statement, page {depth + 2} by cursor",
            lambda: account_statement(account=cash, date_from=START, date_to=as_of, after=deep_cursor, limit=500),
        )
        from ledger.models import Posting

        offset = (depth + 1) * 500
        timed(
            f"  the same depth by OFFSET {offset:,} (lines only, no balance)",
            lambda: list(
                Posting.objects.filter(account=cash, entry__entry_date__gte=START, entry__entry_date__lte=as_of)
                .order_by(*STATEMENT_KEY)
                .values_list("id", "debit")[offset : offset + 500]
            ),
        )
    statement, _ = timed(
        "driver 1's statement for a week",
        lambda: party_statement(
            party=Party.of("loans.driver", 1), date_from=date(2025, 6, 1), date_to=date(2025, 6, 7)
        ),
    )
    assert statement.opening_balance + statement.total_charges - statement.payments == statement.closing_balance
    print(f"{'build (s); cash closing balance':<64} {build_seconds:>10.1f}; {first_page.closing_balance}")


if __name__ == "__main__":
    main()
