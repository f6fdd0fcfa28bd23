"""Staff journeys through the admin in Chromium: review, book a loan, post, export, dashboard."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import LoanApplicationFactory, ManagerFactory, ReviewerFactory, StaffUserFactory
from loans.models import DriverLoan, Installment, InstallmentStatus
from loans.periods import current_week
from loans.services import post_weekly_installments
from loans.tests.factories import LeaseFactory, make_loan

from .conftest import PASSWORD, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def staff(username: str, group: str, *, reviewer: bool = False):
    user = StaffUserFactory(username=username, password=PASSWORD)
    user.groups.add(Group.objects.get(name=group))
    if reviewer:
        ReviewerFactory(user=user, manager=ManagerFactory(), approval_limit=Decimal("20000.00"))
    return user


def pick_autocomplete(page, field: str, text: str) -> None:
    """Choose `text` in a select2 autocomplete field of the admin."""
    page.click(f"#id_{field} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{text}')")


def test_an_officer_approves_an_application_from_their_queue(page):
    officer = staff("olivia", "Loan officer", reviewer=True)
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW,
        assigned_to=officer,
        requested_amount=Decimal("8000.00"),
        customer__full_name="Queue Customer",
    )

    log_in(page, "olivia")
    page.goto("/admin/applications/loanapplication/?queue=mine")
    page.shot("queue")
    page.click("#result_list a:has-text('" + str(application.pk)[:8] + "')")
    page.check("input[name=outcome][value=approve]")
    page.fill("#id_comment", "Pay stubs match the declared income")
    page.shot("decision")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    application.refresh_from_db()
    assert (application.status, application.approved_amount, application.decided_by) == (
        ApplicationStatus.APPROVED,
        Decimal("8000.00"),
        officer,
    )


def test_finance_books_a_loan_sees_its_schedule_posts_and_exports(page):
    staff("fiona", "Finance")
    lease = LeaseFactory(driver__full_name="Kwame Mensah", lease_number="LS-E2E-1")
    this_sunday = current_week()[0]

    log_in(page, "fiona")
    page.goto("/admin/loans/driverloan/add/")
    pick_autocomplete(page, "driver", "Kwame Mensah")
    pick_autocomplete(page, "lease", "LS-E2E-1")
    page.fill("#id_principal", "1200.00")
    page.fill("#id_annual_interest_rate", "0")
    page.fill("#id_start_week", (this_sunday - timedelta(weeks=1)).isoformat())
    page.fill("#id_installment_count", "4")
    page.fill("#id_purpose", "Brake repair")
    page.shot("booking")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    loan = DriverLoan.objects.get(lease=lease)
    page.goto(f"/admin/loans/driverloan/{loan.pk}/change/")
    page.shot("schedule")
    line = page.locator("table.schedule-summary tbody tr").first
    assert line.locator("th").inner_text() == "Scheduled"
    assert line.locator("td").all_inner_texts()[:6] == ["4", "1200.00", "0.00", "1200.00", "0.00", "1200.00"]
    page.click("text=the installments list of this loan")
    page.wait_for_url(f"**/admin/loans/installment/?loan__id__exact={loan.pk}")
    assert page.locator("#result_list tbody tr").count() == 4
    page.goto(f"/admin/loans/driverloan/{loan.pk}/change/")
    assert loan.loan_number in page.inner_text("h2, h1, body")

    page.goto("/admin/loans/driverloan/")
    page.check(f"#result_list input[name=_selected_action][value='{loan.pk}']")
    page.select_option("select[name=action]", "post_due_installments")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    page.shot("posted")
    assert list(Installment.objects.filter(loan=loan).order_by("sequence").values_list("status", flat=True)) == [
        InstallmentStatus.POSTED,
        InstallmentStatus.POSTED,
        InstallmentStatus.SCHEDULED,
        InstallmentStatus.SCHEDULED,
    ]

    page.goto("/admin/loans/driverloan/reports/portfolio/?status=active")
    with page.expect_download() as download_info:
        page.click("a:has-text('CSV')")
    download = download_info.value
    csv_text = Path(download.path()).read_text(encoding="utf-8")
    assert loan.loan_number in csv_text and "Kwame Mensah" in csv_text
    assert download.suggested_filename.endswith(".csv")


def click_bar(page, chart_key: str, index: int) -> None:
    """Click the middle of bar `index` of a chart, where Chart.js drew it."""
    point = page.evaluate(
        """([key, index]) => {
            const canvas = document.querySelector(`canvas[data-chart="${key}"]`);
            canvas.scrollIntoView();
            const bar = Chart.getChart(canvas).getDatasetMeta(0).data[index];
            const box = canvas.getBoundingClientRect();
            return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
        }""",
        [chart_key, index],
    )
    page.mouse.click(point["x"], point["y"])


def test_finance_clicks_a_dashboard_bar_and_gets_its_filtered_list(page):
    staff("fiona", "Finance")
    LoanApplicationFactory.create_batch(3, status=ApplicationStatus.REJECTED)
    this_sunday, this_saturday = current_week()
    loan = make_loan(principal="300.00", weeks=3, start=this_sunday - timedelta(weeks=1))
    post_weekly_installments(period_start=this_sunday, period_end=this_saturday)  # last week's and this week's

    log_in(page, "fiona")
    page.click("#dashboard-link")
    page.wait_for_url("**/admin/dashboard/")
    # `window.Chart`: until the page has loaded Chart.js, a bare `Chart` is a ReferenceError, which fails the wait.
    page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('canvas[data-chart=posted_per_week]'))"
    )
    page.shot("dashboard")
    drawn = page.evaluate(
        "() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => [c.dataset.chart, !!Chart.getChart(c)])"
    )
    assert dict(drawn) == {
        "applications_by_status": True,
        "applications_per_day": True,
        "review_queue": True,
        "posted_per_week": True,
        "loans_by_delinquency_class": True,
        "loans_aging": True,
    }

    click_bar(page, "posted_per_week", 11)  # this week's bar: one installment posted
    page.wait_for_url("**/admin/loans/installment/**")
    page.shot("installments")

    query = page.url.split("?", 1)[1]
    assert query == (
        f"status__exact=posted&due_date__gte={this_sunday.isoformat()}&due_date__lte={this_saturday.isoformat()}"
    )
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert loan.loan_number in rows.first.inner_text()
