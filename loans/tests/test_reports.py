"""The reports' figures on a worked example (two drivers, three loans, postings, payments), page by
page and whole, and the SQL their pages run."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.tests.factories import StaffUserFactory
from loans import services
from loans.reports import KEY, REPORTS

from .factories import SUNDAY, LeaseFactory, make_loan
from .test_api import client_for

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def book():
    """Alice: two loans (one 10 % interest), Bob: one; four weeks posted; Alice pays 300.00, Bob 25.00;
    a fourth loan is cancelled."""
    alice = LeaseFactory(driver__full_name="Alice Able", driver__tlc_license_number="5000001")
    bob = LeaseFactory(driver__full_name="Bob Baker", driver__tlc_license_number="5000002")
    a1 = make_loan(principal="1000.00", weeks=10, rate="10", lease=alice)
    a2 = make_loan(principal="400.00", weeks=4, lease=LeaseFactory(driver=alice.driver))
    b1 = make_loan(principal="600.00", weeks=6, lease=bob)
    cancelled = make_loan(principal="100.00", weeks=2, lease=LeaseFactory(driver=bob.driver))
    services.cancel_loan(loan_id=cancelled.pk, reason="test", actor=StaffUserFactory())
    services.post_weekly_installments(
        period_start=SUNDAY + timedelta(weeks=3), period_end=SUNDAY + timedelta(weeks=3, days=6)
    )
    services.record_driver_payment(
        driver_id=alice.driver_id, amount=D("300.00"), received_on=SUNDAY + timedelta(weeks=3), idempotency_key="a"
    )
    services.record_driver_payment(
        driver_id=bob.driver_id, amount=D("25.00"), received_on=SUNDAY + timedelta(weeks=3), idempotency_key="b"
    )
    return {"a1": a1, "a2": a2, "b1": b1}


def shown(rows: list[dict]) -> list[dict]:
    """The rows without their order key (no column shows it)."""
    return [{key: value for key, value in row.items() if key != KEY} for row in rows]


def rows(name: str, **query) -> list[dict]:
    report = REPORTS[name]
    return shown(report.rows(**report.parse(query)))


def test_report_figures(book):
    got = {
        "unposted": rows("unposted", week="2026-02-08"),
        "portfolio": rows("portfolio", status="all"),
        "by_driver": rows("portfolio-by-driver"),
        "weekly": rows("posted-totals", date_from="2026-01-01", date_to="2026-03-31"),
        "aging": rows("aging", as_of="2026-02-08"),
    }
    assert got == EXPECTED


EXPECTED = {
    "unposted": [
        {
            "loan_number": "DL-2026-0001",
            "driver": "Alice Able",
            "tlc_license_number": "5000001",
            "sequence": 5,
            "due_date": date(2026, 2, 1),
            "principal": D("99.90"),
            "interest": D("1.16"),
            "amount": D("101.06"),
        },
        {
            "loan_number": "DL-2026-0003",
            "driver": "Bob Baker",
            "tlc_license_number": "5000002",
            "sequence": 5,
            "due_date": date(2026, 2, 1),
            "principal": D("100.00"),
            "interest": D("0.00"),
            "amount": D("100.00"),
        },
        {
            "loan_number": "DL-2026-0001",
            "driver": "Alice Able",
            "tlc_license_number": "5000001",
            "sequence": 6,
            "due_date": date(2026, 2, 8),
            "principal": D("100.09"),
            "interest": D("0.97"),
            "amount": D("101.06"),
        },
        {
            "loan_number": "DL-2026-0003",
            "driver": "Bob Baker",
            "tlc_license_number": "5000002",
            "sequence": 6,
            "due_date": date(2026, 2, 8),
            "principal": D("100.00"),
            "interest": D("0.00"),
            "amount": D("100.00"),
        },
    ],
    "portfolio": [
        {
            "loan_number": "DL-2026-0001",
            "driver": "Alice Able",
            "tlc_license_number": "5000001",
            "status": "active",
            "principal": D("1000.00"),
            "annual_interest_rate": D("10.000"),
            "billed_principal": D("397.70"),
            "principal_repaid": D("196.35"),
            "outstanding_principal": D("803.65"),
            "billed_outstanding": D("204.24"),
            "unbilled_principal": D("602.30"),
        },
        {
            "loan_number": "DL-2026-0002",
            "driver": "Alice Able",
            "tlc_license_number": "5000001",
            "status": "active",
            "principal": D("400.00"),
            "annual_interest_rate": D("0.000"),
            "billed_principal": D("400.00"),
            "principal_repaid": D("100.00"),
            "outstanding_principal": D("300.00"),
            "billed_outstanding": D("300.00"),
            "unbilled_principal": D("0.00"),
        },
        {
            "loan_number": "DL-2026-0003",
            "driver": "Bob Baker",
            "tlc_license_number": "5000002",
            "status": "active",
            "principal": D("600.00"),
            "annual_interest_rate": D("0.000"),
            "billed_principal": D("400.00"),
            "principal_repaid": D("25.00"),
            "outstanding_principal": D("575.00"),
            "billed_outstanding": D("375.00"),
            "unbilled_principal": D("200.00"),
        },
        {
            "loan_number": "DL-2026-0004",
            "driver": "Bob Baker",
            "tlc_license_number": "5000002",
            "status": "cancelled",
            "principal": D("100.00"),
            "annual_interest_rate": D("0.000"),
            "billed_principal": D("0.00"),
            "principal_repaid": D("0.00"),
            # Cancelled before anything was billed: its installments are cancelled, nothing is owed.
            "outstanding_principal": D("0.00"),
            "billed_outstanding": D("0.00"),
            "unbilled_principal": D("0.00"),
        },
    ],
    "by_driver": [
        {
            "driver": "Alice Able",
            "tlc_license_number": "5000001",
            "loans": 2,
            "principal": D("1400.00"),
            "outstanding_principal": D("1103.65"),
            "billed_outstanding": D("504.24"),
        },
        {
            "driver": "Bob Baker",
            "tlc_license_number": "5000002",
            "loans": 1,
            "principal": D("600.00"),
            "outstanding_principal": D("575.00"),
            "billed_outstanding": D("375.00"),
        },
    ],
    "weekly": [
        {
            "week_start": date(2026, 1, 4),
            "installments": 3,
            "principal": D("299.14"),
            "interest": D("1.92"),
            "amount": D("301.06"),
        },
        {
            "week_start": date(2026, 1, 11),
            "installments": 3,
            "principal": D("299.33"),
            "interest": D("1.73"),
            "amount": D("301.06"),
        },
        {
            "week_start": date(2026, 1, 18),
            "installments": 3,
            "principal": D("299.52"),
            "interest": D("1.54"),
            "amount": D("301.06"),
        },
        {
            "week_start": date(2026, 1, 25),
            "installments": 3,
            "principal": D("299.71"),
            "interest": D("1.35"),
            "amount": D("301.06"),
        },
    ],
    "aging": [
        {
            "driver": "Alice Able",
            "tlc_license_number": "5000001",
            "current": D("0.00"),
            "days_1_7": D("0.00"),
            "days_8_30": D("504.24"),
            "days_31_60": D("0.00"),
            "days_over_60": D("0.00"),
            "total": D("504.24"),
        },
        {
            "driver": "Bob Baker",
            "tlc_license_number": "5000002",
            "current": D("0.00"),
            "days_1_7": D("0.00"),
            "days_8_30": D("300.00"),
            "days_31_60": D("75.00"),
            "days_over_60": D("0.00"),
            "total": D("375.00"),
        },
    ],
}


QUERIES = {
    "unposted": {"week": "2026-02-08"},
    "portfolio": {"status": "all"},
    "portfolio-by-driver": {},
    "posted-totals": {"date_from": "2026-01-01", "date_to": "2026-03-31"},
    "aging": {"as_of": "2026-02-08"},
    "delinquency": {},  # the loans as the book's payments classified them
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_every_page_and_every_keyset_chunking_gives_the_same_rows(book, monkeypatch, name):
    report = REPORTS[name]
    parameters = report.parse(QUERIES[name])
    whole = rows(name, **QUERIES[name])

    pages = {size: [report.page(parameters, offset=o, limit=size) for o in range(0, 6, size)] for size in (1, 2, 3)}
    monkeypatch.setattr("loans.reports.EXPORT_CHUNK_ROWS", 1)  # a keyset step after every row
    one_by_one = rows(name, **QUERIES[name])

    assert one_by_one == whole
    for size, chunks in pages.items():
        assert shown([row for chunk in chunks for row in chunk]) == whole, size


@pytest.mark.parametrize("name", ["unposted", "portfolio", "portfolio-by-driver", "aging", "delinquency"])
def test_a_report_page_is_limited_in_sql(book, name):
    """The page's rows are chosen by LIMIT/OFFSET in the database; every other query reads only
    the page's loans or drivers."""
    report = REPORTS[name]
    parameters = report.parse(QUERIES[name])

    with CaptureQueriesContext(connection) as captured:
        page = report.page(parameters, offset=1, limit=1)

    sql = [query["sql"] for query in captured]
    assert len(page) == 1
    assert "LIMIT 1 OFFSET 1" in sql[0]
    assert len(sql) == {"unposted": 1, "portfolio": 3, "portfolio-by-driver": 4, "aging": 2, "delinquency": 2}[name]
    assert all("IN (" in query for query in sql[1:])  # the figures of the page's rows only


def test_an_export_reads_keyset_chunks_with_no_cursor_held(book, monkeypatch):
    monkeypatch.setattr("loans.reports.EXPORT_CHUNK_ROWS", 2)
    report = REPORTS["unposted"]

    with CaptureQueriesContext(connection) as captured:
        exported = list(report.rows(**report.parse(QUERIES["unposted"])))

    sql = [query["sql"] for query in captured]
    assert len(exported) == 4
    assert len(sql) == 3  # 2 + 2 + an empty chunk
    assert ["LIMIT 2" in query for query in sql] == [True, True, True]
    assert not any("DECLARE" in query or "OFFSET" in query for query in sql)


@pytest.mark.parametrize("name", list(QUERIES))
def test_following_the_cursor_gives_the_pages_rows(book, name):
    client = client_for("Finance")
    url = f"/api/v1/loans/reports/{name}/"
    by_page = client.get(url, {**QUERIES[name], "page_size": 50}).json()["results"]

    followed, cursor, pages = [], None, 0
    while True:
        body = client.get(url, {**QUERIES[name], "page_size": 1, **({"after": cursor} if cursor else {})}).json()
        followed += body["results"]
        pages += 1
        if not body["has_next"]:
            break
        cursor = body["next_after"]

    assert followed == by_page
    assert pages == len(by_page)
    assert body["next_after"] is None


@pytest.mark.parametrize("cursor", ["nonsense", "W10", "W1sieCIsMV1d"])
def test_a_cursor_the_report_did_not_give_is_a_400(db, cursor):
    response = client_for("Finance").get("/api/v1/loans/reports/unposted/", {"after": cursor})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["after"]


def test_a_cursor_of_another_report_or_edited_is_a_400(book):
    """Both reports are keyed (driver name, id): only the signature's scope tells their cursors apart."""
    client = client_for("Finance")
    cursor = client.get("/api/v1/loans/reports/portfolio-by-driver/", {"page_size": 1}).json()["next_after"]
    edited = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")

    for name, after in [("aging", cursor), ("portfolio-by-driver", edited)]:
        response = client.get(f"/api/v1/loans/reports/{name}/", {"as_of": "2026-02-08", "after": after})

        assert response.status_code == 400, name
        assert response.json()["error"]["fields"] == {"after": ["Not a cursor this report gave (its `next_after`)."]}
