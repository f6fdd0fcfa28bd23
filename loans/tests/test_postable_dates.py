"""Nothing is billed early: a week that has not started (New York time) cannot be posted at any
door, and no loan is booked whose schedule would end after the last date a posting can bill."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from freezegun import freeze_time

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import LoanApplicationFactory
from ledger.models import JournalEntry
from loanproject.core.errors import DomainError
from loans import selectors, services
from loans.models import DriverLoan, Installment, InstallmentPostingRun, InstallmentStatus, LoanNumberCounter
from loans.periods import LAST_POSTABLE_DATE
from loans.tasks import post_weekly_installments_task

from .factories import SUNDAY, LeaseFactory, StaffUserFactory, make_loan
from .test_admin import booking
from .test_api import client_for, loan_payload

pytestmark = pytest.mark.django_db

NEXT_SUNDAY = SUNDAY + timedelta(weeks=1)  # 11 January 2026
# Saturday 10 January 2026, 23:59:59 in New York: Sunday already in UTC, still last week in New York.
SATURDAY_NIGHT = "2026-01-11 04:59:59"
SUNDAY_MIDNIGHT = "2026-01-11 05:00:00"  # Sunday 11 January, 00:00 in New York: the week has begun


def not_started(period_start: date, this_sunday: date) -> str:
    return (
        f"The week of {period_start} has not started yet in America/New_York (this week started on {this_sunday}); "
        "a week is posted once it has begun."
    )


def nothing_posted() -> bool:
    return (
        not InstallmentPostingRun.objects.exists()
        and not JournalEntry.objects.filter(source="loans.installment").exists()
    )


# --- The service: the business week turns at midnight New York time ---------------------------------


def test_next_week_cannot_be_posted_or_previewed_until_it_begins_in_new_york():
    loan = make_loan(principal="400.00", weeks=4)
    next_week = {"period_start": NEXT_SUNDAY, "period_end": NEXT_SUNDAY + timedelta(days=6)}

    with freeze_time(SATURDAY_NIGHT):
        for post in (services.preview_posting, services.post_weekly_installments, services.start_posting_run):
            with pytest.raises(DomainError) as refused:
                post(**next_week)
            assert (refused.value.code, refused.value.fields) == (
                "week_not_started",
                {"period_start": [not_started(NEXT_SUNDAY, SUNDAY)]},
            )
    assert nothing_posted()

    with freeze_time(SUNDAY_MIDNIGHT):
        result = services.post_weekly_installments(**next_week)

    assert (result.posted, result.success) == (2, True)
    assert (
        list(loan.installments.values_list("status", flat=True))
        == [InstallmentStatus.POSTED] * 2 + [InstallmentStatus.SCHEDULED] * 2
    )


# --- The doors ---------------------------------------------------------------------------------------


def test_the_api_refuses_a_week_that_has_not_started_with_a_400_on_week():
    make_loan(principal="400.00", weeks=4)
    finance = client_for("Finance")

    with freeze_time("2026-12-02 12:00"):  # a Wednesday; this week started on Sunday 29 November
        answers = [
            finance.post("/api/v1/loans/postings/", {"week": "2027-06-01", "dry_run": dry_run}, format="json")
            for dry_run in (False, True)
        ]

    for answer in answers:
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "week_not_started"
        assert answer.json()["error"]["fields"] == {"week": [not_started(date(2027, 5, 30), date(2026, 11, 29))]}
    assert nothing_posted()


def test_the_api_posts_next_week_once_it_has_begun_in_new_york(django_capture_on_commit_callbacks):
    make_loan(principal="400.00", weeks=4)
    finance = client_for("Finance")

    with freeze_time(SATURDAY_NIGHT):
        early = finance.post("/api/v1/loans/postings/", {"week": "2026-01-11"}, format="json")
    with freeze_time(SUNDAY_MIDNIGHT), django_capture_on_commit_callbacks(execute=True):
        on_time = finance.post("/api/v1/loans/postings/", {"week": "2026-01-11"}, format="json")

    assert (early.status_code, early.json()["error"]["fields"]) == (400, {"week": [not_started(NEXT_SUNDAY, SUNDAY)]})
    assert on_time.status_code == 202, on_time.json()
    assert selectors.posting_runs().get().posted == 2


def test_the_command_refuses_a_week_that_has_not_started():
    """A CommandError: the message on stderr and exit status 1."""
    make_loan(principal="400.00", weeks=4)

    for extra in ([], ["--dry-run"]):
        with freeze_time("2026-12-02 12:00"), pytest.raises(CommandError) as refused:
            call_command("post_installments", "--week", "2027-06-01", *extra, stdout=StringIO(), stderr=StringIO())
        assert str(refused.value) == f"--week: {not_started(date(2027, 5, 30), date(2026, 11, 29))}"
    assert nothing_posted()


def test_the_admin_form_refuses_a_week_that_has_not_started(admin_client):
    make_loan(principal="400.00", weeks=4)

    with freeze_time("2026-12-02 12:00"):
        response = admin_client.post(reverse("admin:loans_installmentpostingrun_add"), {"week": "2027-06-01"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"week": [not_started(date(2027, 5, 30), date(2026, 11, 29))]}
    assert nothing_posted()


def test_the_task_refuses_a_week_that_has_not_started(django_capture_on_commit_callbacks):
    make_loan(principal="400.00", weeks=4)

    with (
        freeze_time("2026-12-02 12:00"),
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(DomainError) as refused,
    ):
        post_weekly_installments_task.delay(week="2027-06-01").get()

    assert refused.value.fields == {"week": [not_started(date(2027, 5, 30), date(2026, 11, 29))]}
    assert nothing_posted()


# --- Booking: a schedule must end by the last postable date --------------------------------------------

# The last week that lies whole within the accepted dates ends on Saturday 27 December 2200.
LATE_SCHEDULE = (
    "The last installment would be due on {}, after 2200-12-27, the last day a weekly posting can bill; "
    "start earlier or book fewer installments."
)


def nothing_booked() -> bool:
    return (
        DriverLoan.objects.count(),
        Installment.objects.count(),
        JournalEntry.objects.count(),
        LoanNumberCounter.objects.count(),
    ) == (0, 0, 0, 0)


def test_the_last_postable_date_is_the_saturday_of_the_last_whole_week():
    assert date(2200, 12, 27) == LAST_POSTABLE_DATE


def test_a_schedule_ending_after_the_last_postable_date_is_refused_and_nothing_is_booked():
    lease = LeaseFactory()
    terms = {
        "driver_id": lease.driver_id,
        "lease_id": lease.pk,
        "principal": Decimal("5200.00"),
        "installment_count": 520,
        "purpose": "x",
        "created_by": StaffUserFactory(),
    }

    with pytest.raises(DomainError) as refused:
        services.create_driver_loan(**terms, start_week=date(2191, 1, 16))  # one week too late: last due 2200-12-28

    assert (refused.value.code, refused.value.fields) == (
        "date_out_of_range",
        {"start_week": [LATE_SCHEDULE.format("2200-12-28")]},
    )
    assert nothing_booked()

    loan = services.create_driver_loan(**terms, start_week=date(2191, 1, 9))  # the latest start of 520 weeks

    assert (loan.loan_number[-4:], loan.installments.get(sequence=520).due_date) == ("0001", date(2200, 12, 21))


def test_the_api_refuses_a_schedule_ending_too_late_with_a_400_on_start_week():
    response = client_for("Finance").post(
        "/api/v1/loans/", loan_payload(LeaseFactory(), start_week="2200-12-28", installment_count=1), format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"start_week": [LATE_SCHEDULE.format("2200-12-28")]}
    assert nothing_booked()


def test_the_admin_refuses_a_schedule_ending_too_late_with_a_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:loans_driverloan_add"), booking(LeaseFactory(), start_week="2200-11-02", installment_count=10)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"start_week": [LATE_SCHEDULE.format("2201-01-04")]}
    assert nothing_booked()


def test_an_application_whose_schedule_would_end_too_late_is_not_booked(admin_client):
    application = LoanApplicationFactory(
        status=ApplicationStatus.APPROVED, approved_amount=Decimal("900.00"), interest_rate=Decimal("9"), term_months=3
    )

    response = admin_client.post(
        reverse("admin:loans_driverloan_add"),
        booking(
            LeaseFactory(),
            source_application=application.pk,
            principal="",
            annual_interest_rate="",
            installment_count="",
            purpose="",
            frequency="monthly",
            method="annuity",
            start_week="2200-11-02",
        ),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"start_week": [LATE_SCHEDULE.format("2201-01-02")]}
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert nothing_booked()
