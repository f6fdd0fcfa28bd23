"""The delinquency report (reports.py "delinquency"): exact rows, its pages, JSON, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from freezegun import freeze_time
from openpyxl import load_workbook

from loans import services
from loans.reports import KEY, REPORTS

from .conftest import week
from .factories import SUNDAY, LeaseFactory, make_loan
from .test_api import client_for

pytestmark = pytest.mark.django_db

JAN_14 = date(2026, 1, 14)


@pytest.fixture
def loans():
    """Ann owes 4 and 11 January (200.00), Ben paid the 4th so owes the 11th (100.00), Cy's loan
    has nothing billed yet: classified on 14 January."""
    ann = make_loan(principal="400.00", lease=LeaseFactory(driver__full_name="Ann Ash"))
    ben = make_loan(principal="400.00", lease=LeaseFactory(driver__full_name="Ben Birch"))
    for offset in range(2):
        services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=offset)))
    cy = make_loan(principal="400.00", start=SUNDAY + timedelta(weeks=2), lease=LeaseFactory(driver__full_name="Cy"))
    with freeze_time("2026-01-13 17:00:00"):
        services.record_driver_payment(
            driver_id=ben.driver_id, amount=Decimal("100.00"), received_on=date(2026, 1, 13), idempotency_key="b"
        )
    services.classify_delinquency(as_of=JAN_14)
    return ann, ben, cy


def report_rows(**query) -> list[dict]:
    report = REPORTS["delinquency"]
    return [{k: v for k, v in row.items() if k != KEY} for row in report.rows(**report.parse(query))]


def test_the_report_lists_past_due_loans_most_days_first_with_what_is_overdue(loans):
    ann, ben, _cy = loans

    assert report_rows() == [
        {
            "loan_number": ann.loan_number,
            "driver": "Ann Ash",
            "tlc_license_number": ann.driver.tlc_license_number,
            "delinquency_class": "8-30 days",
            "days_past_due": 10,
            "oldest_overdue": date(2026, 1, 4),
            "overdue": Decimal("200.00"),
            "as_of": JAN_14,
        },
        {
            "loan_number": ben.loan_number,
            "driver": "Ben Birch",
            "tlc_license_number": ben.driver.tlc_license_number,
            "delinquency_class": "1-7 days",
            "days_past_due": 3,
            "oldest_overdue": date(2026, 1, 11),
            "overdue": Decimal("100.00"),
            "as_of": JAN_14,
        },
    ]


def test_one_class_at_a_time_current_included_and_an_unknown_class_is_refused(loans):
    _ann, ben, cy = loans

    assert [row["loan_number"] for row in report_rows(delinquency_class="1-7")] == [ben.loan_number]
    assert [(row["loan_number"], row["overdue"]) for row in report_rows(delinquency_class="current")] == [
        (cy.loan_number, Decimal("0.00"))
    ]
    with pytest.raises(ValidationError) as refused:
        REPORTS["delinquency"].parse({"delinquency_class": "nope"})
    assert list(refused.value.message_dict) == ["delinquency_class"]


def test_json_pages_and_csv_through_the_report_doors(loans):
    ann, ben, _cy = loans
    client = client_for("Finance")

    first = client.get("/api/v1/loans/reports/delinquency/", {"page_size": 1}).json()
    second = client.get("/api/v1/loans/reports/delinquency/", {"page_size": 1, "after": first["next_after"]}).json()
    exported = client.get("/api/v1/loans/reports/delinquency/", {"export": "csv"})

    assert [row["loan_number"] for row in first["results"] + second["results"]] == [ann.loan_number, ben.loan_number]
    assert (first["results"][0]["overdue"], first["results"][0]["days_past_due"]) == ("200.00", 10)
    assert second["has_next"] is False
    lines = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert lines[0] == [
        "Loan",
        "Driver",
        "TLC licence",
        "Class",
        "Days past due",
        "Oldest unpaid due date",
        "Overdue",
        "Classified as of",
    ]
    assert lines[2][3:] == ["1-7 days", "3", "2026-01-11", "100.00", "2026-01-14"]


def test_the_xlsx_file_is_built_by_the_export_job(loans, django_capture_on_commit_callbacks):
    ann, _ben, _cy = loans
    client = client_for("Finance")

    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post("/api/v1/loans/reports/delinquency/exports/", {"delinquency_class": "8-30"}, format="json")
    job = client.get(asked["Location"]).json()
    content = b"".join(client.get(job["download_url"]).streaming_content)

    assert (asked.status_code, job["status"], job["rows_total"]) == (202, "done", 1)
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[1][0] == ann.loan_number
    assert rows[1][3:] == ["8-30 days", 10, datetime(2026, 1, 4), 200, datetime(2026, 1, 14)]
