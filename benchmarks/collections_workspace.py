#!/usr/bin/env python
"""Benchmark the collector's workspace (/admin/loans/collectioncase/workspace/) on a large queue.

    .venv/bin/python benchmarks/collections_workspace.py [--drivers 1000000]

The workspace reads only the queue (loans_collectioncase), the drivers, the delinquency classes,
the promises to pay and the notes, so this builds those rows directly, set-based, in a fresh
database of BENCH_DATABASE_URL (its name starts with "bench"): `--drivers` drivers, every
`--delinquent-every`th of them delinquent (a case with days past due and an overdue amount;
every other case paid up), one collector given every `--collector-every`th delinquent case,
`--promises-per-driver` promises (kept, broken, open) and `--notes-per-driver` notes on each
delinquent driver. It then measures, with django.test.Client, the collector's first page,
Finance's first page (every case) and a Finance page half-way down the queue (keyset cursor):
the queries of one request and the median ms of five. `measure_workspace` is also run by
collections_queue.py on its copy of the admin_scale data set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import StatementCounter, recreate_database, setup_django  # noqa: E402

WORKSPACE = "/admin/loans/collectioncase/workspace/"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_collections_workspace"),
    )
    parser.add_argument("--drivers", type=int, default=1_000_000)
    parser.add_argument("--delinquent-every", type=int, default=5, help="every Nth driver is delinquent")
    parser.add_argument("--collector-every", type=int, default=10, help="the collector's share of delinquent cases")
    parser.add_argument("--promises-per-driver", type=int, default=3)
    parser.add_argument("--notes-per-driver", type=int, default=5)
    return parser.parse_args()


def staff_users():
    """A collector and a Finance member (the roles' groups are made by migrate)."""
    from django.contrib.auth.models import Group

    from applications.tests.factories import StaffUserFactory

    collector, finance = StaffUserFactory(username="bench-colin"), StaffUserFactory(username="bench-fiona")
    collector.groups.add(Group.objects.get(name="Collector"))
    finance.groups.add(Group.objects.get(name="Finance"))
    return collector, finance


def build(args: argparse.Namespace, collector, finance) -> None:
    from django.db import connection

    params = {
        "drivers": args.drivers,
        "delinquent": args.delinquent_every,
        "share": args.collector_every,
        "collector": collector.pk,
        "finance": finance.pk,
        "promises": args.promises_per_driver,
        "notes": args.notes_per_driver,
    }
    steps = [
        (
            "drivers",
            """INSERT INTO loans_driver (tlc_license_number, full_name, email, phone, status, created_at, updated_at)
               SELECT '9' || lpad(n::text, 7, '0'), 'Driver ' || n, 'driver' || n || '@example.com',
                      '+1 718 555 ' || lpad((n %% 10000)::text, 4, '0'), 'active', now(), now()
                 FROM generate_series(1, %(drivers)s) n""",
        ),
        (
            # Every other driver with a case is paid up (kept in the table, out of the queue).
            "cases",
            """INSERT INTO loans_collectioncase (driver_id, days_past_due, overdue_amount, delinquency_class_id, as_of)
               SELECT d.id, days, CASE WHEN days > 0 THEN (d.id %% 5000) + 10.00 ELSE 0 END, class.id,
                      current_date
                 FROM loans_driver d
                 CROSS JOIN LATERAL (SELECT CASE WHEN d.id %% %(delinquent)s = 0 THEN 1 + d.id %% 120 ELSE 0 END::int) x(days)
                 JOIN loans_delinquencyclass class
                   ON int4range(class.min_days, class.max_days + 1) @> days
                WHERE d.id %% %(delinquent)s = 0 OR d.id %% %(delinquent)s = 1""",
        ),
        (
            "assignments",
            """UPDATE loans_collectioncase SET collector_id = %(collector)s, assigned_by_id = %(finance)s,
                      assigned_at = now()
                WHERE days_past_due > 0 AND (driver_id / %(delinquent)s) %% %(share)s = 0""",
        ),
        (
            "promises",
            """INSERT INTO loans_promisetopay (driver_id, amount, promised_for, taken_on, taken_at, status, settled_on,
                                               paid_amount, taken_by_id)
               SELECT c.driver_id, 50.00 + n, current_date - 30 + 7 * n, current_date - 35 + 7 * n, now(),
                      s.status, CASE WHEN s.status = 'open' THEN NULL ELSE current_date - 29 + 7 * n END,
                      CASE WHEN s.status = 'open' THEN NULL ELSE 0 END, %(collector)s
                 FROM loans_collectioncase c, generate_series(1, %(promises)s) n,
                      LATERAL (SELECT (ARRAY['kept', 'broken', 'open'])[1 + (c.driver_id + n) %% 3]) s(status)
                WHERE c.days_past_due > 0""",
        ),
        (
            "notes",
            """INSERT INTO loans_collectionnote (driver_id, body, author_id, created_at)
               SELECT c.driver_id, 'Called; note ' || n, %(collector)s, now() - n * interval '1 day'
                 FROM loans_collectioncase c, generate_series(1, %(notes)s) n
                WHERE c.days_past_due > 0""",
        ),
    ]
    with connection.cursor() as cursor:
        for name, sql in steps:
            started = time.perf_counter()
            cursor.execute(sql, params)
            print(f"  {name}: {cursor.rowcount:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        cursor.execute("VACUUM ANALYZE loans_collectioncase")
        cursor.execute("ANALYZE loans_driver; ANALYZE loans_promisetopay; ANALYZE loans_collectionnote")


def measure_workspace(collector, finance) -> list[tuple[str, int, int, float]]:
    """The workspace's pages as `collector` and as `finance`: for each, the cases it pages
    through, the queries of one request (after a warm-up) and the median ms of five."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from loanproject.core import keyset
    from loans.collections_workspace import CURSOR_SCOPE
    from loans.models import CollectionCase

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    queue = CollectionCase.objects.filter(days_past_due__gt=0)
    delinquent, mine = queue.count(), queue.filter(collector=collector).count()
    position = queue.order_by("-overdue_amount", "-driver_id").values_list("overdue_amount", "driver_id")[
        delinquent // 2
    ]
    deep = f"{WORKSPACE}?after={keyset.encode_cursor(list(position), scope=CURSOR_SCOPE)}"
    rows = []
    for name, user, path, cases_seen in [
        ("collector, first page", collector, WORKSPACE, mine),
        ("Finance, first page", finance, WORKSPACE, delinquent),
        ("Finance, half-way (keyset)", finance, deep, delinquent),
    ]:
        client = Client()
        client.force_login(user)
        client.get(path)  # warm-up
        statements = StatementCounter()
        with connection.execute_wrapper(statements):
            response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"FAILED: {path} answered {response.status_code}")
        shown = response.content.decode().count('class="module workspace-case"')
        if shown != min(20, cases_seen):
            raise SystemExit(f"FAILED: {name} showed {shown} cases")
        times = []
        for _ in range(5):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        rows.append((name, cases_seen, len(statements), statistics.median(times)))
    return rows


def print_workspace(rows: list[tuple[str, int, int, float]]) -> None:
    print("\n| Collector's workspace (20 cases a page) | Cases | Queries | ms (median of 5) |")
    print("|---|---|---|---|")
    for name, cases_seen, queries, ms in rows:
        print(f"| {name} | {cases_seen:,} | {queries} | {ms:.1f} |")


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    recreate_database(args.database_url)
    setup_django(args.database_url)
    print(f"fresh database, migrated in {time.perf_counter() - started:.0f} s", flush=True)
    collector, finance = staff_users()
    started = time.perf_counter()
    build(args, collector, finance)
    print(f"built in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
    print_workspace(measure_workspace(collector, finance))


if __name__ == "__main__":
    main()
