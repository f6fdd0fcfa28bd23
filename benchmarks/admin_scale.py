#!/usr/bin/env python
"""The doors staff and partners use every minute, at production scale (issue 12).

    .venv/bin/python benchmarks/admin_scale.py                   # build 1.0 scale, then measure every page
    .venv/bin/python benchmarks/admin_scale.py --reuse           # keep the data already built, migrate, measure
    .venv/bin/python benchmarks/admin_scale.py --scale 0.01      # a quick try
    .venv/bin/python benchmarks/admin_scale.py --reuse --only "applications" --json before.json

1. Builds the data set of benchmarks/_scale_data.py in the database of BENCH_DATABASE_URL (its
   name starts with "bench"; dropped and created again): at scale 1.0, 500,000 customers,
   1,000,000 applications, 1,000,000 installments of driver loans (about half posted), about
   1,700,000 ledger postings, 500,000 open items and 1,000,000 finance transactions, set-based,
   within the database's rules; a line per table with its time, then VACUUM ANALYZE. With
   --reuse a database that holds a finished build is kept: only `migrate` runs (so new indexes
   are built on the big tables), then the measurement.
2. Measures, in this process with django.test.Client (a superuser's session for the admin, a
   partner's API key, the superuser's staff token), every page of PAGES below: one warm-up
   request (its SQL queries counted), then the median of --runs requests. "cold" pages clear the
   cache before each request (untimed). A page that answers anything but 200, or raises, is an
   error row: the run goes on.

Each row prints the median in ms, the queries of one request and the goal (300 ms). The settings
are the development ones with DEBUG off (queries are not kept), the partner throttle lifted, the
cache of --cache-url (default BENCH_CACHE_URL; else the in-process memory cache).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks._setup import fresh_database, recreate_database, setup_django  # noqa: E402

GOAL_MS = 300

# The pages measured: (door, name, path). Doors: "admin" (superuser session), "partner" (API key
# of the first bench partner), "staff" (the superuser's token); "-cold" the same with the cache
# cleared before each request. Paths are formatted with the samples of `samples()`: {app}, {customer},
# ... ids and terms of real rows, {year}/{month} a month with data, {p2000} page 2000 at scale
# 1.0 (scaled down with the data). Add rows freely; a path that stops existing shows as an error.
PAGES: list[tuple[str, str, str]] = [
    # Admin index and dashboard, cold.
    ("admin-cold", "admin index", "/admin/"),
    # The figures the refresh job stored (the warm-up stores them if no job ran yet); the job's own
    # time is printed after the table (it runs off the request, once a minute).
    ("admin-cold", "dashboard", "/admin/dashboard/"),
    # Applications.
    ("admin", "applications", "/admin/applications/loanapplication/"),
    ("admin", "applications ?status", "/admin/applications/loanapplication/?status__exact=manual_review"),
    ("admin", "applications ?partner", "/admin/applications/loanapplication/?partner__id__exact={partner}"),
    ("admin", "applications search name", "/admin/applications/loanapplication/?q={customer_name_q}"),
    ("admin", "applications search UUID", "/admin/applications/loanapplication/?q={app}"),
    ("admin", "applications search e-mail", "/admin/applications/loanapplication/?q={customer_email}"),
    ("admin", "applications search ref", "/admin/applications/loanapplication/?q={app_ref}"),
    (
        "admin",
        "applications year/month",
        "/admin/applications/loanapplication/?submitted_at__year={year}&submitted_at__month={month}",
    ),
    ("admin", "applications ?p=2000", "/admin/applications/loanapplication/?p={p2000}"),
    ("admin", "application change", "/admin/applications/loanapplication/{app}/change/"),
    # Customers.
    ("admin", "customers", "/admin/applications/customer/"),
    ("admin", "customers ?partner", "/admin/applications/customer/?partner__id__exact={partner}"),
    ("admin", "customers search name", "/admin/applications/customer/?q={customer_name_q}"),
    ("admin", "customers search e-mail", "/admin/applications/customer/?q={customer_email}"),
    ("admin", "customers search ref", "/admin/applications/customer/?q={customer_ref}"),
    (
        "admin",
        "customers year/month",
        "/admin/applications/customer/?created_at__year={year}&created_at__month={month}",
    ),
    ("admin", "customers ?p=2000", "/admin/applications/customer/?p={p2000}"),
    ("admin", "customer change", "/admin/applications/customer/{customer}/change/"),
    # Driver loans.
    ("admin", "driver loans", "/admin/loans/driverloan/"),
    ("admin", "driver loans ?status", "/admin/loans/driverloan/?status__exact=active"),
    ("admin", "driver loans search number", "/admin/loans/driverloan/?q={loan_number}"),
    ("admin", "driver loans search name", "/admin/loans/driverloan/?q={driver_name_q}"),
    ("admin", "driver loans year/month", "/admin/loans/driverloan/?start_week__year={year}&start_week__month={month}"),
    ("admin", "driver loans ?p=150", "/admin/loans/driverloan/?p={p150}"),
    ("admin", "driver loan change", "/admin/loans/driverloan/{loan}/change/"),
    ("admin", "driver loan change (520 inst.)", "/admin/loans/driverloan/{long_loan}/change/"),
    # Finance's driver page (issue 15): the workspace of the driver of the 520-installment loan (the
    # most items and payments) and of a common driver, and the payment page (the workspace alone).
    ("admin", "driver page (520 inst.)", "/admin/loans/driver/{long_loan_driver}/change/"),
    ("admin", "driver page", "/admin/loans/driver/{loan_driver}/change/"),
    ("admin", "driver payment page (520 inst.)", "/admin/loans/driver/{long_loan_driver}/payment/"),
    ("finance", "driver page as Finance (520 inst.)", "/admin/loans/driver/{long_loan_driver}/change/"),
    # Installments.
    ("admin", "installments", "/admin/loans/installment/"),
    ("admin", "installments ?status", "/admin/loans/installment/?status__exact=scheduled"),
    ("admin", "installments search loan", "/admin/loans/installment/?q={long_loan_number}"),
    ("admin", "installments year/month", "/admin/loans/installment/?due_date__year={year}&due_date__month={month}"),
    ("admin", "installments ?p=2000", "/admin/loans/installment/?p={p2000}"),
    ("admin", "installment change", "/admin/loans/installment/{installment}/change/"),
    # Journal entries.
    ("admin", "journal entries", "/admin/ledger/journalentry/"),
    ("admin", "journal entries ?source", "/admin/ledger/journalentry/?source__exact=ledger.payment"),
    ("admin", "journal entries search id", "/admin/ledger/journalentry/?q={entry}"),
    ("admin", "journal entries search key", "/admin/ledger/journalentry/?q={entry_key}"),
    ("admin", "journal entries search text", "/admin/ledger/journalentry/?q={driver_name_q}"),
    (
        "admin",
        "journal entries year/month",
        "/admin/ledger/journalentry/?entry_date__year={year}&entry_date__month={month}",
    ),
    ("admin", "journal entries ?p=2000", "/admin/ledger/journalentry/?p={p2000}"),
    ("admin", "journal entry change", "/admin/ledger/journalentry/{entry}/change/"),
    # Open items.
    ("admin", "open items", "/admin/ledger/openitem/"),
    ("admin", "open items ?status", "/admin/ledger/openitem/?status__exact=open"),
    ("admin", "open items search reference", "/admin/ledger/openitem/?q={open_item_ref_q}"),
    ("admin", "open items search account", "/admin/ledger/openitem/?q={receivable_code}"),
    ("admin", "open items year/month", "/admin/ledger/openitem/?due_date__year={year}&due_date__month={month}"),
    ("admin", "open items ?p=2000", "/admin/ledger/openitem/?p={p2000}"),
    ("admin", "open item change", "/admin/ledger/openitem/{open_item}/change/"),
    # Ledger accounts.
    ("admin", "ledger accounts", "/admin/ledger/account/"),
    ("admin", "ledger accounts search name", "/admin/ledger/account/?q={driver_name_q}"),
    ("admin", "ledger account change", "/admin/ledger/account/{receivable}/change/"),
    # Finance transactions.
    ("admin", "finance transactions", "/admin/finance/transaction/"),
    ("admin", "finance transactions ?pending", "/admin/finance/transaction/?pending__exact=1"),
    ("admin", "finance transactions search ref", "/admin/finance/transaction/?q={transaction_ref}"),
    ("admin", "finance transactions search name", "/admin/finance/transaction/?q=STARBUCKS"),
    (
        "admin",
        "finance transactions date range",
        "/admin/finance/transaction/?date__gte={month_start}&date__lt={month_end}",
    ),
    ("admin", "finance transactions ?p=2000", "/admin/finance/transaction/?p={p2000}"),
    ("admin", "finance transaction change", "/admin/finance/transaction/{transaction}/change/"),
    # Finance accounts.
    ("admin", "finance accounts", "/admin/finance/account/"),
    ("admin", "finance accounts ?type", "/admin/finance/account/?type__exact=savings"),
    ("admin", "finance accounts search name", "/admin/finance/account/?q={customer_name_q}"),
    ("admin", "finance accounts search ref", "/admin/finance/account/?q={finance_account_ref}"),
    (
        "admin",
        "finance accounts date range",
        "/admin/finance/account/?created_at__gte={month_start}&created_at__lt={month_end}",
    ),
    ("admin", "finance accounts ?p=1000", "/admin/finance/account/?p={p1000}"),
    ("admin", "finance account change", "/admin/finance/account/{finance_account}/change/"),
    # Partner API.
    ("partner", "API applications", "/api/v1/applications/"),
    ("partner", "API applications ?ordering=requested_amount", "/api/v1/applications/?ordering=requested_amount"),
    ("partner", "API applications ?ordering=-updated_at", "/api/v1/applications/?ordering=-updated_at"),
    ("partner", "API applications ?status", "/api/v1/applications/?status=manual_review"),
    ("partner", "API applications, cursor 2000 pages deep", "/api/v1/applications/?cursor={app_cursor}"),
    ("partner", "API applications stats", "/api/v1/applications/stats/"),
    ("partner-cold", "API applications stats, computed", "/api/v1/applications/stats/"),
    ("partner", "API application", "/api/v1/applications/{app}/"),
    ("partner", "API customers", "/api/v1/customers/"),
    ("partner", "API customers, cursor 2000 pages deep", "/api/v1/customers/?cursor={customer_cursor}"),
    ("partner", "API finance transactions", "/api/v1/finance/transactions/"),
    # Staff API.
    ("staff", "API loans", "/api/v1/loans/"),
    ("staff", "API loans ?status", "/api/v1/loans/?status=active"),
    ("staff", "API loans, cursor 150 pages deep", "/api/v1/loans/?cursor={loan_cursor}"),
    ("staff", "API loan (520 inst.)", "/api/v1/loans/{long_loan_number}/"),
    ("staff", "API posting runs", "/api/v1/loan-posting-runs/"),
    # Reports: JSON pages and the admin's pages.
    ("staff", "API report unposted", "/api/v1/loans/reports/unposted/"),
    ("staff", "API report unposted ?page=20", "/api/v1/loans/reports/unposted/?page=20"),
    ("staff", "API report portfolio", "/api/v1/loans/reports/portfolio/"),
    ("staff", "API report portfolio-by-driver", "/api/v1/loans/reports/portfolio-by-driver/"),
    ("staff", "API report posted-totals", "/api/v1/loans/reports/posted-totals/"),
    ("staff", "API report aging", "/api/v1/loans/reports/aging/"),
    ("admin", "admin reports", "/admin/loans/driverloan/reports/"),
    ("admin", "admin report unposted", "/admin/loans/driverloan/reports/unposted/"),
    ("admin", "admin report portfolio", "/admin/loans/driverloan/reports/portfolio/"),
    ("admin", "admin report portfolio-by-driver", "/admin/loans/driverloan/reports/portfolio-by-driver/"),
    ("admin", "admin report posted-totals", "/admin/loans/driverloan/reports/posted-totals/"),
    ("admin", "admin report aging", "/admin/loans/driverloan/reports/aging/"),
    # The collector's workspace (issue 15), as the superuser (every case). This data set builds no
    # collection cases, so it measures the page's fixed cost; benchmarks/collections_workspace.py
    # measures it on a queue of 200,000 delinquent drivers with their promises and notes.
    ("admin", "collections workspace", "/admin/loans/collectioncase/workspace/"),
    ("collector", "collections workspace as a collector", "/admin/loans/collectioncase/workspace/"),
    # The reviewer's page (issue 15): an application in manual review opens on its summary (latest
    # scoring run, agents' findings, related applications) beside the decision form; the changelist
    # of every application sharing its customer's PAN, e-mail or phone.
    ("admin", "application in review (reviewer's page)", "/admin/applications/loanapplication/{review_app}/change/"),
    ("admin", "applications ?related_to", "/admin/applications/loanapplication/?related_to={review_app}"),
    # Issue 15: each role's landing (the admin index shows its work) and the loan page as Finance
    # (the role sessions of `role_clients`), and the journal entries searched by a loan number.
    ("officer", "admin index as a loan officer", "/admin/"),
    ("finance", "admin index as Finance", "/admin/"),
    ("collector", "admin index as a collector", "/admin/"),
    ("finance", "driver loan change as Finance", "/admin/loans/driverloan/{loan}/change/"),
    ("finance", "driver loan change as Finance (520 inst.)", "/admin/loans/driverloan/{long_loan}/change/"),
    ("admin", "journal entries search loan number", "/admin/ledger/journalentry/?q={long_loan_number}"),
]


@dataclass
class Result:
    door: str
    name: str
    path: str
    median_ms: float | None = None
    queries: int | None = None
    status: int | None = None
    error: str = ""
    runs_ms: list[float] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        return "OK" if self.median_ms is not None and self.median_ms <= GOAL_MS else "over"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="of the data set (default 1.0; 0.01 for a quick try)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep a finished build in the database (run migrate only), else build"
    )
    parser.add_argument("--build-only", action="store_true", help="build (or keep, with --reuse) and measure nothing")
    parser.add_argument(
        "--template",
        metavar="NAME",
        help="after building, copy the database to this bench_* database (CREATE DATABASE ... TEMPLATE), "
        "for others to copy in seconds",
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="TEXT", help="measure the pages whose name or path contains it"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page after the warm-up (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_admin"),
        help="(default: $BENCH_DATABASE_URL or bench_admin on the local server)",
    )
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("BENCH_CACHE_URL", ""),
        help="Redis URL of the Django cache, e.g. redis://127.0.0.1:6379/3 (default $BENCH_CACHE_URL; else in memory)",
    )
    return parser.parse_args()


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} {message}", flush=True)


# --- Data ------------------------------------------------------------------------------------------


def prepare_database(args: argparse.Namespace) -> dict[str, str]:
    """Reuse a finished build (migrated) or build one; returns what the build recorded."""
    from django.core.management import call_command
    from django.db import connections
    from django.db.utils import OperationalError

    from benchmarks import _scale_data

    if args.reuse:
        try:
            meta = _scale_data.built_meta()
        except OperationalError:  # no such database yet
            meta = None
        if meta is not None:
            log(f"reusing the build of {meta['finished_at']} (scale {meta['scale']}, commit {meta['commit'][:10]})")
            started = time.perf_counter()
            call_command("migrate", verbosity=0)
            log(f"migrate: {time.perf_counter() - started:.1f} s")
            return meta
        log("no finished build in the database: building one")
    connections.close_all()
    started = time.perf_counter()
    fresh_database(args.database_url)
    call_command("migrate", verbosity=0)
    log(f"fresh database, migrated in {time.perf_counter() - started:.1f} s; building scale {args.scale}")
    timings = _scale_data.build(args.scale, log=log)
    log(f"built in {timings['total']:.1f} s ({timings['total'] / 60:.1f} min)")
    print_row_counts()
    meta = _scale_data.built_meta() or {}
    if args.template:
        copy_to_template(args.database_url, args.template)
    return meta


def print_row_counts() -> None:
    from django.db import connection

    tables = [
        "applications_customer",
        "applications_loanapplication",
        "loans_driverloan",
        "loans_installment",
        "ledger_journalentry",
        "ledger_posting",
        "ledger_openitem",
        "ledger_paymentallocation",
        "finance_account",
        "finance_transaction",
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")
            log(f"  {table}: {cursor.fetchone()[0]:,} rows")
        cursor.execute("SELECT count(*) FILTER (WHERE status = 'posted'), count(*) FROM loans_installment")
        posted, total = cursor.fetchone()
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        log(f"  installments posted: {posted:,} of {total:,}; database size {cursor.fetchone()[0]}")


def copy_to_template(database_url: str, template: str) -> None:
    from django.db import connections

    source = urlparse(database_url).path.lstrip("/")
    connections.close_all()  # a database is copied only while nobody is connected to it
    started = time.perf_counter()
    recreate_database(urlparse(database_url)._replace(path=f"/{template}").geturl(), template=source)
    log(f"copied {source} to {template} in {time.perf_counter() - started:.1f} s")


# --- Measurement -----------------------------------------------------------------------------------


def samples(scale: float) -> dict[str, Any]:
    """Ids and search terms of real rows (a few indexed queries), and page numbers at this scale."""
    from datetime import date

    from django.db import connection

    from applications.models import Partner
    from benchmarks._scale_data import LONG_LOAN_INSTALLMENTS, PARTNER_CODES
    from loans.models import DriverLoan
    from loans.periods import business_today

    partner = Partner.objects.get(code=PARTNER_CODES[0])
    values: dict[str, Any] = {"partner": partner.pk}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.external_ref, c.id, c.full_name, c.email, c.external_ref FROM applications_loanapplication a "
            "JOIN applications_customer c ON c.id = a.customer_id WHERE a.partner_id = %s "
            "ORDER BY a.partner_id, a.submitted_at DESC OFFSET 1000 LIMIT 1",
            [partner.pk],
        )
        app, app_ref, customer, name, email, customer_ref = cursor.fetchone()
        values.update(app=app, app_ref=app_ref, customer=customer, customer_email=email, customer_ref=customer_ref)
        values["customer_name_q"] = name.replace(" ", "+")
        cursor.execute(  # an application in an officer's queue (the reviewer's page)
            "SELECT id FROM applications_loanapplication WHERE partner_id = %s AND status = 'manual_review' "
            "ORDER BY partner_id, status LIMIT 1 OFFSET 10",
            [partner.pk],
        )
        values["review_app"] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT l.id, l.loan_number, l.receivable_account_id, a.code FROM loans_driverloan l "
            "JOIN ledger_account a ON a.id = l.receivable_account_id WHERE l.installment_count = %s "
            "ORDER BY l.id LIMIT 1",
            [LONG_LOAN_INSTALLMENTS],
        )
        values["long_loan"], values["long_loan_number"], values["receivable"], values["receivable_code"] = (
            cursor.fetchone()
        )
        cursor.execute(
            "SELECT l.id, l.loan_number, d.full_name FROM loans_driverloan l JOIN loans_driver d ON d.id = l.driver_id "
            "WHERE l.installment_count <> %s ORDER BY l.id OFFSET %s LIMIT 1",
            [LONG_LOAN_INSTALLMENTS, 50],
        )
        row = cursor.fetchone() or (values["long_loan"], values["long_loan_number"], "")
        values["loan"], values["loan_number"] = row[0], row[1]
        values["driver_name_q"] = " ".join(row[2].split()[:2]).replace(" ", "+")  # first and last name
        cursor.execute(
            "SELECT i.id, e.id, e.idempotency_key, o.id, o.reference FROM loans_installment i "
            "JOIN ledger_journalentry e ON e.id = i.posted_entry_id JOIN ledger_openitem o ON o.entry_id = e.id "
            "WHERE i.loan_id = %s AND i.status = 'posted' ORDER BY i.sequence DESC LIMIT 1",
            [values["long_loan"]],
        )
        (values["installment"], values["entry"], values["entry_key"], values["open_item"], reference) = (
            cursor.fetchone()
        )
        values["open_item_ref_q"] = reference.replace(" ", "+").replace("#", "%23")
        cursor.execute(
            "SELECT id, provider_transaction_id FROM finance_transaction WHERE id = "
            "(SELECT min(id) + (max(id) - min(id)) / 2 FROM finance_transaction)"
        )
        values["transaction"], values["transaction_ref"] = cursor.fetchone()
        cursor.execute(
            "SELECT id, provider_account_id FROM finance_account WHERE id = "
            "(SELECT min(id) + (max(id) - min(id)) / 2 FROM finance_account)"
        )
        values["finance_account"], values["finance_account_ref"] = cursor.fetchone()
    # The drivers of the two loans above (the driver's page).
    drivers = dict(
        DriverLoan.objects.filter(pk__in=[values["long_loan"], values["loan"]]).values_list("pk", "driver_id")
    )
    values["long_loan_driver"], values["loan_driver"] = drivers[values["long_loan"]], drivers[values["loan"]]
    month = business_today().replace(day=1) - timedelta(days=80)
    month_start = date(month.year, month.month, 1)
    month_end = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    values.update(year=month.year, month=month.month, month_start=month_start, month_end=month_end)
    for page in (2000, 1000, 150):
        values[f"p{page}"] = max(2, round(page * min(scale, 1.0)))
    return values


def clients():
    """Test clients of the three doors: the superuser's session, a partner's key, a staff token."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from applications.models import Partner, PartnerAPIKey
    from benchmarks._scale_data import PARTNER_CODES, SUPERUSER

    user = get_user_model().objects.get(username=SUPERUSER)
    admin_client = Client()
    admin_client.force_login(user)
    partner = Partner.objects.get(code=PARTNER_CODES[0])
    PartnerAPIKey.objects.filter(partner=partner, name="admin_scale").delete()
    _, key = PartnerAPIKey.objects.create_key(name="admin_scale", partner=partner)
    token, _ = Token.objects.get_or_create(user=user)
    return {
        "admin": admin_client,
        "admin-cold": admin_client,
        "partner": Client(HTTP_AUTHORIZATION=f"Api-Key {key}"),
        "partner-cold": Client(HTTP_AUTHORIZATION=f"Api-Key {key}"),
        "staff": Client(HTTP_AUTHORIZATION=f"Token {token.key}"),
        **role_clients(),
    }


def role_clients() -> dict:
    """Sessions of a loan officer (the one the first application in review is assigned to: they
    have a queue), a Finance user and a collector, each put in its role's group (the last two made
    here if missing; no business row is written)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from applications.models import LoanApplication

    User = get_user_model()
    in_review = LoanApplication.objects.filter(status="manual_review", assigned_to__isnull=False)
    users = {
        "officer": (User.objects.get(pk=in_review.values_list("assigned_to", flat=True)[:1].get()), "Loan officer"),
        "finance": (User.objects.get_or_create(username="bench-finance", defaults={"is_staff": True})[0], "Finance"),
        "collector": (
            User.objects.get_or_create(username="bench-collector", defaults={"is_staff": True})[0],
            "Collector",
        ),
    }
    doors = {}
    for door, (user, role) in users.items():
        user.groups.add(Group.objects.get(name=role))
        doors[door] = Client()
        doors[door].force_login(user)
    return doors


def deep_cursors(doors: dict, values: dict[str, Any]) -> dict[str, str]:
    """Cursors as the API's `next` links would give them deep into a list: the ordering read from
    page 1's link, the position that of the row at the depth of page 2000 (150 for loans)."""
    from urllib.parse import parse_qs, urlsplit

    from applications.models import Customer, LoanApplication
    from loanproject.core import keyset
    from loans.models import DriverLoan

    lists = {
        "app_cursor": (
            "partner",
            "/api/v1/applications/",
            LoanApplication.objects.filter(partner_id=values["partner"]),
            "p2000",
        ),
        "customer_cursor": (
            "partner",
            "/api/v1/customers/",
            Customer.objects.filter(partner_id=values["partner"]),
            "p2000",
        ),
        "loan_cursor": ("staff", "/api/v1/loans/", DriverLoan.objects.all(), "p150"),
    }
    cursors = {}
    for name, (door, path, rows, depth) in lists.items():
        link = doors[door].get(path).json()["next"]
        _, meta = keyset.decode_cursor(parse_qs(urlsplit(link).query)["cursor"][0], scope=path)
        ordering = meta["o"]
        position = rows.order_by(*ordering).values_list(*(term.lstrip("-") for term in ordering))[
            (values[depth] - 1) * 50
        ]
        cursors[name] = keyset.encode_cursor(position, scope=path, **meta)
    return cursors


def measure_page(client, door: str, name: str, path: str, runs: int) -> Result:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result = Result(door=door, name=name, path=path)
    cold = door.endswith("-cold")
    try:
        if cold:
            cache.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)  # the warm-up
        result.status, result.queries = response.status_code, len(queries)
        if response.status_code != 200:
            location = response.headers.get("Location", "")
            result.error = f"HTTP {response.status_code}" + (f" -> {location}" if location else "")
            return result
        for _ in range(runs):
            if cold:
                cache.clear()
            started = time.perf_counter()
            response = client.get(path)
            result.runs_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code} on a timed run"
                return result
        result.median_ms = statistics.median(result.runs_ms)
    except Exception as exc:  # a broken page is a row of the table, never the end of the run
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        traceback.print_exc(limit=3, file=sys.stderr)
    return result


def measure(args: argparse.Namespace, scale: float) -> list[Result]:
    values = samples(scale)
    doors = clients()
    values.update(deep_cursors(doors, values))
    chosen = [page for page in PAGES if not args.only or any(term in page[1] or term in page[2] for term in args.only)]
    log(f"measuring {len(chosen)} pages: a warm-up, then the median of {args.runs}")
    results = []
    for door, name, template in chosen:
        try:
            path = template.format(**values)
        except (KeyError, IndexError) as exc:
            results.append(Result(door=door, name=name, path=template, error=f"no sample {exc}"))
            continue
        result = measure_page(doors[door], door, name, path, args.runs)
        results.append(result)
        print(format_row(result), flush=True)
    if any(path == "/admin/dashboard/" for _, _, path in chosen):
        log(
            f"dashboard refresh job (off the request, every minute): {time_dashboard_refresh(args.runs):.0f} ms (median)"
        )
    return results


def time_dashboard_refresh(runs: int) -> float:
    """The beat job that computes what the dashboard shows: median of `runs`, each forced."""
    from django.utils import timezone

    from loanproject.dashboard.services import refresh_dashboard_figures

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        refresh_dashboard_figures(today=timezone.localdate(), force=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def format_row(result: Result) -> str:
    median = f"{result.median_ms:8.1f}" if result.median_ms is not None else "       -"
    queries = f"{result.queries:4d}" if result.queries is not None else "   -"
    note = f"  {result.error}" if result.error else ""
    return f"{result.name[:44]:44s} {median} {queries}  {GOAL_MS:4d}  {result.verdict:5s}{note}"


def print_table(results: list[Result]) -> None:
    print()
    print(f"{'page':44s} {'ms (med)':>8s} {'SQL':>4s}  {'goal':>4s}  verdict")
    print("-" * 80)
    for result in results:
        print(format_row(result))
    over = [r for r in results if r.verdict == "over"]
    errors = [r for r in results if r.verdict == "ERROR"]
    print("-" * 80)
    print(
        f"{len(results)} pages: {len(results) - len(over) - len(errors)} OK, {len(over)} over {GOAL_MS} ms, "
        f"{len(errors)} errors"
    )


def main() -> None:
    args = parse_args()
    if not urlparse(args.database_url).path.lstrip("/").startswith("bench"):
        sys.exit("BENCH_DATABASE_URL (or --database-url) must name a bench* database: it is dropped and rebuilt.")
    # The partner throttle (600 requests a minute) would answer 429 to a measurement run.
    os.environ["PARTNER_THROTTLE_RATE"] = "1000000/s"
    if args.cache_url:
        os.environ["CACHE_URL"] = args.cache_url
    # A date in a DateTimeField filter of the URL is midnight in the current time zone, as meant.
    warnings.filterwarnings("ignore", message=r".*received a naive datetime", category=RuntimeWarning)
    setup_django(args.database_url, migrate=False)
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # django.test.Client's host

    meta = prepare_database(args)
    if args.build_only:
        return
    scale = float(meta.get("scale", args.scale))
    results = measure(args, scale)
    print_table(results)
    if args.json:
        from benchmarks._scale_data import git_commit

        Path(args.json).write_text(
            json.dumps(
                {
                    "measured_at": datetime.now().astimezone().isoformat(),
                    "measured_commit": git_commit(),
                    "build": meta,
                    "goal_ms": GOAL_MS,
                    "runs": args.runs,
                    "pages": [{**asdict(r), "verdict": r.verdict} for r in results],
                },
                indent=2,
            )
        )
        log(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
