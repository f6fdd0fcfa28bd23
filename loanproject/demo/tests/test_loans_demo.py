from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from applications.lifecycle import ApplicationStatus
from ledger.selectors import trial_balance
from loanproject.demo.seed import DEMO_STAFF_TOKEN
from loans import services
from loans.models import Driver, DriverLoan, LoanStatus
from loans.periods import current_week
from loans.selectors import posting_runs

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_the_demo_has_drivers_loans_a_posted_week_and_this_week_to_post(settings, scoring_policy):
    settings.DEBUG = True

    call_command("load_demo_data", "--password", "demo-pass-123", stdout=StringIO())

    loans = DriverLoan.objects.order_by("loan_number")
    assert (Driver.objects.count(), loans.count()) == (5, 5)
    assert sorted(loans.values_list("status", flat=True)) == sorted([LoanStatus.ACTIVE] * 4 + [LoanStatus.CLOSED])
    booked = loans.get(source_application__isnull=False)
    assert booked.source_application.status == ApplicationStatus.BOOKED
    assert booked.driver.customer == booked.source_application.customer
    run = posting_runs().get()
    assert run.posted > 0 and run.failed == 0 and run.started_by.username == "fiona.finance"
    assert trial_balance().balances
    this_week = services.preview_posting(period_start=current_week()[0], period_end=current_week()[1])
    assert this_week.processed > 0 and this_week.total_amount > Decimal("0")
    response = APIClient().get("/api/v1/loans/", HTTP_AUTHORIZATION=f"Token {DEMO_STAFF_TOKEN}")
    assert (response.status_code, len(response.json()["results"])) == (200, 5)
