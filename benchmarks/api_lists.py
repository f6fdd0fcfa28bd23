"""The partner API's list and stats calls at a million rows: median of 5 after a warm-up, SQL
statements per call, beside the 300 ms goal. Runs in-process (Django's test client, production
code paths, DEBUG off) against an existing bench_* database holding the data set
(benchmarks/admin_scale.py's template, or any copy of it).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_api CACHE_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python -m benchmarks.api_lists [--partner ID]

Deep pages: with page numbers, `?page=2000`; with cursors, 2000 pages walked `next` by `next`
once (not timed), then the 2001st page timed from its cursor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchmarks._setup import setup_django

GOAL_MS = 300
URL = "/api/v1/applications/"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partner", type=int, help="default: the partner with the most applications")
    parser.add_argument("--deep", type=int, default=2000, help="the page number (or cursor pages) of the deep call")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_api")
    if not url.rsplit("/", 1)[-1].startswith("bench"):
        raise SystemExit("BENCH_DATABASE_URL must name a bench_* database")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    setup_django(url, migrate=False)

    from django.core.cache import cache
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from applications.models import LoanApplication, Partner, PartnerAPIKey

    partner_id = (
        args.partner
        or (LoanApplication.objects.order_by().values("partner").annotate(n=Count("pk")).order_by("-n")[0]["partner"])
    )
    partner = Partner.objects.get(pk=partner_id)
    _, key = PartnerAPIKey.objects.create_key(name="bench api_lists", partner=partner)
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    unthrottled = override_settings(PARTNER_THROTTLE_RATE="100000/s")
    unthrottled.enable()

    def get(path: str) -> dict:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.content[:300]!r}")
        return response.json()

    deep_path = f"{URL}?page={args.deep}"
    probe = client.get(f"{URL}?page=2")
    if probe.status_code == 400:  # paged by cursor: walk to the deep page once
        body = get(URL)
        for _ in range(args.deep - 1):
            body = get(body["next"])
        deep_path = body["next"]

    calls = [
        ("list, default ordering", URL),
        ("ordering=requested_amount", f"{URL}?ordering=requested_amount"),
        ("ordering=-updated_at", f"{URL}?ordering=-updated_at"),
        (f"deep page ({args.deep})", deep_path),
        ("status=manual_review", f"{URL}?status=manual_review"),
        ("status=approved&status=booked", f"{URL}?status=approved&status=booked"),
        ("stats, cold (cache emptied)", f"{URL}stats/"),
        ("stats, within its 60 s", f"{URL}stats/"),
        ("customers", "/api/v1/customers/"),
        ("customers ordering=full_name", "/api/v1/customers/?ordering=full_name"),
        ("finance transactions", "/api/v1/finance/transactions/"),
    ]
    print(f"partner {partner.pk}: {LoanApplication.objects.filter(partner=partner).count()} applications")
    print(f"{'call':<34}{'median ms':>10}{'min':>8}{'max':>8}{'queries':>9}{'goal':>7}")
    for name, path in calls:
        cold = name.startswith("stats, cold")
        get(path)  # warm-up
        timings = []
        for _ in range(5):
            if cold:
                cache.clear()
            start = time.perf_counter()
            get(path)
            timings.append((time.perf_counter() - start) * 1000)
        if cold:
            cache.clear()
        with CaptureQueriesContext(connection) as queries:
            get(path)
        median = statistics.median(timings)
        flag = "ok" if median <= GOAL_MS else "OVER"
        print(f"{name:<34}{median:>10.1f}{min(timings):>8.1f}{max(timings):>8.1f}{len(queries):>9}{GOAL_MS:>5} {flag}")
    unthrottled.disable()
    PartnerAPIKey.objects.filter(name="bench api_lists").delete()


if __name__ == "__main__":
    main()
