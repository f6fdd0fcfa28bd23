"""The work a job does, counted rather than timed: for comparing two commits on a busy machine.

Wall-clock figures on a shared 2-core machine swing by 30 % between identical runs, so a 6 %
difference between two commits can be neither shown nor ruled out by timing them. What a job asks
of the machine can be counted instead, and the counts do not depend on what else is running:

- the SQL statements of one chunk or batch (exact), and their text (for a diff between commits);
- the Python process's CPU seconds (time.process_time, which other processes barely move);
- the database's work over the whole job from pg_stat_database: buffers touched, tuples read,
  inserted, updated, deleted, transactions.

Run it with --tree pointing at a checkout of each commit (its own code is imported, and its own
benchmark helpers build the data), then compare the two outputs:

    git worktree add --detach /tmp/old <commit>
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_work \\
        .venv/bin/python benchmarks/work_counts.py --job posting --n 100000 --tree /tmp/old
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_work \\
        .venv/bin/python benchmarks/work_counts.py --job posting --n 100000
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

STAT_COLUMNS = ("buffers", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "xacts")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", choices=("posting", "scoring"), required=True)
    parser.add_argument("--n", type=int, default=100_000, help="installments posted or applications scored")
    parser.add_argument("--chunk-size", type=int, default=5000, help="posting chunk / scoring batch size")
    parser.add_argument(
        "--tree", type=Path, default=Path(__file__).resolve().parent.parent, help="checkout whose code runs"
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_work")
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12"),
        help="where the events scoring publishes go (as in production; without one, tasks run in-process)",
    )
    parser.add_argument("--sql-out", type=Path, help="write the first chunk's statements here, literals masked")
    return parser.parse_args()


def database_stats() -> dict[str, int]:
    """This database's counters, flushed first (PostgreSQL publishes them at most once a second)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    connection.close()
    time.sleep(1.2)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT blks_hit + blks_read, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted,"
            " xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        row = cursor.fetchone()
    return dict(zip(STAT_COLUMNS, row, strict=True))


def masked(sql: str) -> str:
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+\b", "N", sql)
    return re.sub(r"s\d+_x\d+", "savepoint", sql)


def counted(step, *, capture: bool):
    """Run `step`; its Python CPU seconds and, when `capture`, its statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    started = time.process_time()
    if not capture:
        step()
        return time.process_time() - started, []
    with CaptureQueriesContext(connection) as captured:
        step()
    return time.process_time() - started, [query["sql"] for query in captured.captured_queries]


def posting_steps(n: int, chunk_size: int):
    from benchmarks import post_installments as bench
    from loans.periods import week_containing
    from loans.services import open_posting_run, post_installment_chunk

    weeks = 50
    bench.create_installments(batch="W", loans=-(-n // weeks), weeks=weeks, rate=Decimal("10"))
    period_start, period_end = week_containing(bench.START + timedelta(weeks=weeks - 1))
    yield "plan", None
    run, chunks = open_posting_run(period_start=period_start, period_end=period_end, chunk_size=chunk_size)
    for chunk in chunks:
        yield "chunk", lambda chunk=chunk: post_installment_chunk(run_id=run.pk, chunk=chunk)


def scoring_steps(n: int, chunk_size: int):
    from agents import services
    from benchmarks import score_applications as bench

    ids = bench.create_pending_applications(n, run=1)
    yield "plan", None
    for start in range(0, len(ids), chunk_size):
        batch = ids[start : start + chunk_size]
        yield (
            "batch",
            lambda batch=batch: services.score_in_batches(
                application_ids=batch, batch_size=chunk_size, rescore_decided=False
            ),
        )


def main() -> None:
    args = parse_args()
    tree = args.tree.resolve()
    os.chdir(tree)
    sys.path.insert(0, str(tree))
    from benchmarks._setup import fresh_database, setup_django

    fresh_database(args.database_url)
    setup_django(args.database_url, args.broker_url)
    from django.db import connection

    steps = (posting_steps if args.job == "posting" else scoring_steps)(args.n, args.chunk_size)
    next(steps)  # the data exists now
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("CHECKPOINT")
    before = database_stats()
    cpu_seconds: list[float] = []
    statements: list[str] = []
    for index, (_, step) in enumerate(steps):
        seconds, captured = counted(step, capture=index == 1)  # the second: caches warm, tables not empty
        cpu_seconds.append(seconds)
        statements = captured or statements
    after = database_stats()
    kinds = collections.Counter(sql.split()[0].upper() for sql in statements)
    print(f"code: {tree} ({args.job}, {args.n:,} in {len(cpu_seconds)} steps of {args.chunk_size:,})")
    print(f"statements per step: {len(statements)} {dict(sorted(kinds.items()))}")
    print(
        f"python CPU: {sum(cpu_seconds):.2f} s in all, median step {sorted(cpu_seconds)[len(cpu_seconds) // 2]:.3f} s"
    )
    print("database work: " + ", ".join(f"{name} {after[name] - before[name]:,}" for name in STAT_COLUMNS))
    if args.job == "scoring":
        import redis

        redis.Redis.from_url(args.broker_url).flushdb()
    if args.sql_out:
        args.sql_out.write_text("".join(masked(sql) + "\n" for sql in statements))


if __name__ == "__main__":
    main()
