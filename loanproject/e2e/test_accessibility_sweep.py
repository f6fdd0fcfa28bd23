"""Every admin page a role works with, audited by axe-core: no serious or critical violation.

The role walks (test_reviewer_workspace, test_finance_workspace, test_collector_workspace,
test_role_landing) audit the pages of each role's main task; this sweep visits the rest of what
each role opens in a day: lists, a record of each kind, the forms its actions open. Each test logs
in through the login page (audited) and goes straight to each page with `page.goto`, so every load
is audited, and counts them: a page that stops loading (a redirect, a 403) changes the count."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from agents.services import score_applications
from agents.tests.factories import strong_application
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from applications.services import record_review_decision
from applications.tests.factories import CustomerFactory, ManagerFactory, ReviewerFactory
from ledger.models import JournalEntry, OpenItem, OpenItemStatus
from loanproject.core.models import ApprovalRequest
from loans import services
from loans.accounts import cash_account
from loans.models import ScheduleVersion
from loans.periods import business_today, current_week
from loans.tests.factories import LeaseFactory, make_loan

from .conftest import log_in_audited
from .test_back_office import staff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def audit(page, axe, urls: list[str]) -> None:
    """Open each page and audit it."""
    for url in urls:
        page.goto(url)
        axe.check(page)


def delinquent_driver(*, finance, collector):
    """Kwame: a loan three weeks in, its installments posted, one payment that left arrears; in the
    collections queue (classified by the services) and assigned to `collector`, with a promise and a
    note; a second, newer loan; a restructuring asked for by someone else in Finance, waiting."""
    this_sunday, this_saturday = current_week()
    lease = LeaseFactory(driver__full_name="Kwame Mensah")
    loan = make_loan(principal="1200.00", weeks=6, start=this_sunday - timedelta(weeks=3), lease=lease)
    newer = make_loan(principal="300.00", weeks=3, start=this_sunday, lease=LeaseFactory(driver=lease.driver))
    services.post_weekly_installments(period_start=this_sunday, period_end=this_saturday)
    today = business_today()
    services.record_driver_payment(
        driver_id=lease.driver_id, amount=Decimal("120.00"), received_on=today, idempotency_key="sweep-1"
    )
    services.classify_loans(loan_ids=[loan.pk, newer.pk], as_of=today)
    services.refresh_collection_cases(driver_ids=[lease.driver_id], as_of=today)
    services.assign_collector(driver_id=lease.driver_id, collector_id=collector.pk, assigned_by=finance)
    services.record_promise_to_pay(
        driver_id=lease.driver_id, amount=Decimal("150.00"), promised_for=today + timedelta(days=3), taken_by=collector
    )
    services.add_collection_note(driver_id=lease.driver_id, body="Pays after Friday's shift.", author=collector)
    return loan


def test_every_page_finance_works_with_passes_axe(page, axe):
    fiona, mark, colin = staff("fiona", "Finance"), staff("mark", "Finance"), staff("colin", "Collector")
    loan = delinquent_driver(finance=fiona, collector=colin)
    driver = loan.driver_id
    services.request_loan_restructuring(
        loan_id=loan.pk, kind="extension", periods=2, reason="Slow weeks", requested_by=mark
    )
    request = ApprovalRequest.objects.get()
    version = ScheduleVersion.objects.filter(loan=loan).order_by("-id").first()
    payment = JournalEntry.objects.get(source="ledger.payment")
    open_item = OpenItem.objects.filter(status=OpenItemStatus.OPEN).order_by("due_date", "id").first()
    cash = cash_account()

    log_in_audited(page, axe, "fiona")  # the login page and the landing
    audit(
        page,
        axe,
        [
            "/admin/loans/driver/",
            "/admin/loans/driver/?q=Kwame",
            f"/admin/loans/driver/{driver}/change/",
            f"/admin/loans/driver/{driver}/statement/",
            f"/admin/loans/driverloan/{loan.pk}/change/",
            f"/admin/loans/driverloan/{loan.pk}/payoff/",
            f"/admin/loans/scheduleversion/prepay/{loan.pk}/",
            f"/admin/loans/scheduleversion/restructure/{loan.pk}/",
            f"/admin/loans/scheduleversion/{version.pk}/change/",
            "/admin/loans/installment/",
            "/admin/ledger/openitem/",
            "/admin/ledger/journalentry/",
            f"/admin/ledger/journalentry/{payment.pk}/change/",
            "/admin/core/approvalrequest/",
            f"/admin/core/approvalrequest/{request.pk}/change/",
            "/admin/dashboard/",
            "/admin/loans/collectioncase/",
            "/admin/loans/collectioncase/workspace/",
            f"/admin/loans/collectioncase/{driver}/change/",
            "/admin/loans/driverloan/reports/",
            "/admin/loans/driverloan/reports/portfolio/",
            f"/admin/loans/driverloan/{loan.pk}/recovery/",
            f"/admin/ledger/openitem/{open_item.pk}/change/",
            "/admin/ledger/account/trial-balance/",
            "/admin/ledger/account/party-balances/",
            f"/admin/ledger/account/{cash.pk}/statement/",
            "/admin/loans/installmentpostingrun/",
            "/admin/loans/installmentpostingrun/past-week/",
            "/admin/loans/driverloan/add/",
        ],
    )
    # The booking form's driver autocomplete, open (select2 draws its list on demand)...
    page.click("#id_driver + .select2 .select2-selection")
    page.wait_for_selector(".select2-container--open .select2-results__option")
    axe.check(page)
    page.keyboard.press("Escape")
    # ...and its start week's calendar (the admin's date widget), open.
    page.click("#id_start_week ~ .datetimeshortcuts a[id^=calendarlink]")
    page.wait_for_selector(".calendarbox", state="visible")
    axe.check(page)
    page.keyboard.press("Escape")

    # The manual entry's legs, empty and then sent back with their errors.
    audit(page, axe, ["/admin/ledger/journalentry/manual-entry/"])
    page.fill("#id_description", "Bank charges")
    page.fill("#id_reason", "December statement")
    page.fill("#id_legs-0-account", "999999")
    page.fill("#id_legs-0-debit", "12.00")
    with page.expect_navigation():
        page.click("input[value='Request the entry']")
    axe.check(page)
    page.shot("manual-entry-refused")
    assert page.locator("#content .errorlist").count() > 0

    audit(page, axe, ["/admin/loans/driverloan/"])
    # "Ask to write off" renders its reason page: the loan chosen and the action submitted.
    page.check(f"#result_list input[name=_selected_action][value='{loan.pk}']")
    page.select_option("select[name=action]", "ask_to_write_off")
    with page.expect_navigation():
        page.click("button[name=index]")
    axe.check(page)
    page.shot("write-off-reason")
    assert "Ask to write off loans" in page.inner_text("#content h1")

    # Login, landing, 31 pages opened, the refused manual entry, the write-off reason page.
    assert len(page.loads) == 35, page.loads
    axe.assert_every_load_checked(page)


def referred(officer, *, name: str, email: str, amount: str) -> LoanApplication:
    """Scored by the pipeline and referred (its e-mail is shared with another PAN), then put in
    the officer's queue (as test_reviewer_workspace.referred)."""
    customer = CustomerFactory(full_name=name, email=email)
    CustomerFactory(email=email, full_name=f"Other holder of {email}")
    application = strong_application(customer=customer, requested_amount=Decimal(amount))
    score_applications(application_ids=[application.pk])
    LoanApplication.objects.filter(pk=application.pk).update(assigned_to=officer)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.MANUAL_REVIEW
    return application


def reviewers():
    """Olivia, an officer who may approve up to 10 000, and Mona, her manager."""
    mona = staff("mona", "Loan manager")
    olivia = staff("olivia", "Loan officer")
    manager = ManagerFactory(user=mona)
    ReviewerFactory(user=olivia, manager=manager, approval_limit=Decimal("10000.00"))
    return olivia, mona


def decide(application: LoanApplication, reviewer, *, approve: bool = True) -> LoanApplication:
    return record_review_decision(
        application_id=application.pk,
        expected_version=application.version,
        reviewer_user=reviewer,
        approve=approve,
        comment="Stubs match",
    )


def officer_pages(waiting: LoanApplication, decided: LoanApplication) -> list[str]:
    return [
        "/admin/applications/loanapplication/?queue=mine",
        f"/admin/applications/loanapplication/{waiting.pk}/change/?_changelist_filters=queue%3Dmine",
        f"/admin/applications/loanapplication/?related_to={waiting.pk}",
        f"/admin/applications/loanapplication/{decided.pk}/change/",
        "/admin/applications/customer/",
        f"/admin/applications/customer/{waiting.customer_id}/change/",  # linked from the reviewer's page
    ]


def test_every_page_a_loan_officer_works_with_passes_axe(page, axe, scoring_policy):
    olivia, _ = reviewers()
    waiting = referred(olivia, name="Asha Rao", email="asha@example.com", amount="8000.00")
    decided = decide(referred(olivia, name="Ben Okafor", email="ben@example.com", amount="6000.00"), olivia)

    log_in_audited(page, axe, "olivia")  # the login page and the landing (their queue)
    audit(page, axe, officer_pages(waiting, decided))

    assert len(page.loads) == 8, page.loads
    axe.assert_every_load_checked(page)


def test_every_page_a_loan_manager_works_with_passes_axe(page, axe, scoring_policy):
    olivia, mona = reviewers()
    # Above Olivia's limit: her approval is a proposal that waits for Mona's confirmation.
    proposed = decide(referred(olivia, name="Asha Rao", email="asha@example.com", amount="15000.00"), olivia)
    assert (proposed.assigned_to, proposed.proposed_amount) == (mona, Decimal("15000.00"))
    waiting = referred(mona, name="Cara Diaz", email="cara@example.com", amount="9000.00")
    decided = decide(referred(mona, name="Ben Okafor", email="ben@example.com", amount="6000.00"), mona)

    log_in_audited(page, axe, "mona")
    audit(
        page,
        axe,
        [
            "/admin/applications/loanapplication/?queue=confirm",
            f"/admin/applications/loanapplication/{proposed.pk}/change/?_changelist_filters=queue%3Dconfirm",
            *officer_pages(waiting, decided),
        ],
    )

    assert len(page.loads) == 10, page.loads
    axe.assert_every_load_checked(page)


def test_every_page_a_collector_works_with_passes_axe(page, axe):
    fiona, colin = staff("fiona", "Finance"), staff("colin", "Collector")
    loan = delinquent_driver(finance=fiona, collector=colin)

    log_in_audited(page, axe, "colin")  # the login page and the landing (their cases)
    audit(
        page,
        axe,
        [
            "/admin/loans/collectioncase/workspace/",
            "/admin/loans/collectioncase/",
            f"/admin/loans/collectioncase/{loan.driver_id}/change/",
            f"/admin/loans/driverloan/?driver__id__exact={loan.driver_id}",  # the workspace's "Loans" link
            f"/admin/loans/driver/{loan.driver_id}/change/",
            f"/admin/loans/driverloan/{loan.pk}/change/",
            f"/admin/loans/installment/?loan__id__exact={loan.pk}",
            "/admin/ledger/openitem/?status__exact=open",
        ],
    )

    assert len(page.loads) == 10, page.loads
    axe.assert_every_load_checked(page)
