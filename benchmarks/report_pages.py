#!/usr/bin/env python
"""Report pages and the worker-built XLSX export on a large data set.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_<you> .venv/bin/python benchmarks/report_pages.py
    ... --no-migrate          # measure the code of another checkout on the same copy (before/after)
    ... --export unposted     # also build the report's XLSX as an export job, in a fresh process

The database is one built by benchmarks/admin_scale.py (a copy of its template: CREATE DATABASE
bench_<you> TEMPLATE bench_admin_template); it is migrated first unless --no-migrate. Every JSON
page of /api/v1/loans/reports/<name>/ is requested through Django's test client as a superuser:
a warm-up, then the median of 5, with the queries a page costs. The export is built by
core.export_jobs.build_export (what the Celery task runs) in a child process whose peak RSS is
read from getrusage; the time is the build's, wall clock, with its row count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import setup_django  # noqa: E402

GOAL_MS = 300
# The data set's loans are 9,611 (one a driver), ~104 weekly installments each: week 2028-05-28
# makes the unposted report 490,614 rows (the XLSX had 490,845); the other deep pages are
# near the end of their report.
BIG_WEEK = "2028-05-28"
PAGES: list[tuple[str, dict[str, str]]] = [
    ("unposted", {}),
    ("unposted", {"week": BIG_WEEK}),
    ("unposted", {"week": BIG_WEEK, "page": "5000"}),
    ("portfolio", {}),
    ("portfolio", {"status": "all", "page": "150"}),
    ("portfolio-by-driver", {}),
    ("portfolio-by-driver", {"page": "150"}),
    ("posted-totals", {}),
    ("aging", {}),
    ("aging", {"page": "150"}),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--no-migrate", action="store_true")
    parser.add_argument("--export", default=None, help="a report to build as XLSX in an export job")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--build-job", type=int, default=None, help=argparse.SUPPRESS)  # the child process
    return parser.parse_args()


def measure_pages() -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = ["*"]
    user, _ = get_user_model().objects.get_or_create(
        username="bench-reports", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    print(f"{'page':<48} {'median ms':>10} {'queries':>8} {'rows':>5}  goal {GOAL_MS} ms")
    pages: list[tuple[str, dict[str, str]]] = list(PAGES)
    try:  # the code has cursors (?after=): the deep unposted page read from its cursor too
        from loanproject.core import keyset
        from loans.reports import KEY, REPORTS

        report = REPORTS["unposted"]
        before = report.page(report.parse({"week": BIG_WEEK}), offset=249_949, limit=1)[0][KEY]
        cursor = keyset.encode_cursor(before, scope="/api/v1/loans/reports/unposted/")
        pages.insert(3, ("unposted", {"week": BIG_WEEK, "after": cursor}))
    except ImportError:
        pass
    for name, query in pages:
        url = f"/api/v1/loans/reports/{name}/"
        response = client.get(url, query)  # warm-up
        assert response.status_code == 200, (url, query, response.status_code, response.content[:300])
        times = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, query)
                times.append((time.perf_counter() - started) * 1000)
        shown = {k: ("<row 249,950>" if k == "after" else v) for k, v in query.items()}
        label = f"{name} {json.dumps(shown) if query else ''}"
        median = statistics.median(times)
        rows = len(response.json()["results"])
        print(f"{label:<48} {median:>10.0f} {len(captured):>8} {rows:>5}  {'ok' if median <= GOAL_MS else 'OVER'}")


def measure_export(name: str) -> None:
    from django.contrib.auth import get_user_model

    from loanproject.core import export_jobs
    from loanproject.core.export_jobs import request_report_export

    # Tasks run eagerly here (no broker): the build would run in this process, after its pages.
    # The job is only recorded; the child process below builds it, as a worker would.
    export_jobs._enqueue_after_commit = lambda job_id: None

    user = get_user_model().objects.get(username="bench-reports")
    parameters = {"week": BIG_WEEK} if name == "unposted" else {}
    job = request_report_export(report=f"loans.{name}", parameters=parameters, requested_by=user)
    child = subprocess.run(
        [sys.executable, __file__, "--no-migrate", "--skip-pages", "--build-job", str(job.pk)],
        env={**os.environ},
        capture_output=True,
        text=True,
        check=False,
    )
    print(child.stdout.strip())
    if child.returncode:
        print(child.stderr[-3000:])


def build_job(job_id: int) -> None:
    from loanproject.core.export_jobs import build_export

    started = time.perf_counter()
    job = build_export(job_id=job_id)
    took = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = job.file.size / 2**20 if job.file else 0
    print(
        f"export job {job.pk} {job.report}: {job.status} {job.rows_done:,} rows in {took:.1f} s, "
        f"peak RSS {peak_mb:.0f} MB, file {size_mb:.1f} MB {job.error}"
    )


def main() -> None:
    args = parse_args()
    if not args.database_url:
        raise SystemExit("BENCH_DATABASE_URL (a copy of bench_admin_template) is needed")
    os.environ.setdefault("EXPORTS_ROOT", "/tmp/bench-report-exports")
    setup_django(args.database_url, migrate=not args.no_migrate)
    if args.build_job:
        build_job(args.build_job)
        return
    if not args.skip_pages:
        measure_pages()
    if args.export:
        measure_export(args.export)


if __name__ == "__main__":
    main()
