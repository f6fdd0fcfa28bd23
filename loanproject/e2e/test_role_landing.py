"""Each role lands on its work: the admin index shows a reviewer's queue, Finance's posting of the
week and the approvals waiting for them, a collector's cases; Finance reads a loan's totals.

Page loads are counted from the login page: `log_in_audited` loads the login page and the landing (2),
and audits both with axe."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import LoanApplicationFactory
from loans import services
from loans.tests.factories import SUNDAY, CollectionCaseFactory, make_loan

from .conftest import log_in_audited
from .test_back_office import staff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_lands_on_their_queue_and_opens_the_next_application(page, axe):
    officer = staff("olivia", "Loan officer", reviewer=True)
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW,
        assigned_to=officer,
        requested_amount=Decimal("8000.00"),
        customer__full_name="Queue Customer",
    )

    log_in_audited(page, axe, "olivia")
    landing = page.locator("#landing-review-queue")
    assert "1 application in review assigned to you." in landing.inner_text()
    assert page.locator("#all-models").get_attribute("open") is None  # the models, folded below
    page.shot("landing")
    page.click("#open-next-application")
    page.wait_for_selector("input[name=outcome]")
    axe.check(page)

    assert str(application.pk) in page.url
    assert len(page.loads) == 3  # login, landing, the application (today: 4, through the filtered list)
    axe.assert_every_load_checked(page)


def test_finance_lands_on_the_weeks_posting_and_approvals_and_reads_a_loans_totals(page, axe):
    staff("fiona", "Finance")
    maker = staff("mark", "Finance")
    loan = make_loan(principal="400.00", weeks=4)
    services.post_weekly_installments(period_start=SUNDAY, period_end=SUNDAY + timedelta(days=6))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("60.00"), received_on=SUNDAY, idempotency_key="e2e-1"
    )
    services.request_loan_restructuring(loan_id=loan.pk, kind="extension", periods=2, reason="Slow", requested_by=maker)

    log_in_audited(page, axe, "fiona")
    assert "Not posted yet." in page.locator("#landing-posting").inner_text()
    assert "1 request by others, oldest first" in page.locator("#landing-approvals caption").text_content()
    page.shot("landing")
    assert len(page.loads) == 2  # login, landing (today: 5, through the posting runs and the approvals)

    page.goto(f"/admin/loans/driverloan/{loan.pk}/change/")
    axe.check(page)
    total = page.locator("#loan-schedule table.schedule-summary tfoot tr").inner_text()
    assert total.split() == ["Total", "4", "400.00", "0.00", "400.00", "60.00", "340.00", "2026-01-04", "2026-01-25"]
    page.shot("loan")
    axe.assert_every_load_checked(page)


def test_a_collector_lands_on_their_cases(page, axe):
    collector, lead = staff("carl", "Collector"), staff("fiona", "Finance")
    assigned = {"collector": collector, "assigned_by": lead, "assigned_at": timezone.now()}
    CollectionCaseFactory(driver__full_name="Ama Owusu", overdue_amount=Decimal("300.00"), **assigned)
    CollectionCaseFactory(driver__full_name="Kofi Mensah", overdue_amount=Decimal("120.00"), **assigned)
    CollectionCaseFactory(driver__full_name="Someone Else")

    log_in_audited(page, axe, "carl")
    landing = page.locator("#landing-collections")
    assert "2 delinquent drivers assigned to you." in landing.inner_text()
    assert [name.strip() for name in landing.locator("tbody th").all_inner_texts()] == ["Ama Owusu", "Kofi Mensah"]
    page.shot("landing")
    page.click("#open-workspace")
    axe.check(page)
    cases = page.locator("section.workspace-case h2").all_inner_texts()
    assert [title.split(" TLC ")[0].strip() for title in cases] == ["Ama Owusu", "Kofi Mensah"]

    assert len(page.loads) == 3  # login, landing, the workspace (today: 4, the queue and a case's page)
    axe.assert_every_load_checked(page)
