"""The admin index per role (dashboard/landing.py): each role's work on top, in a fixed number of
queries, the models folded below; superusers and auditors keep the list of models."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import LoanApplicationFactory, StaffUserFactory
from loanproject.dashboard import services as dashboard_services
from loans import services as loan_services
from loans.models import InstallmentPostingRun
from loans.periods import current_week
from loans.tests.factories import CollectionCaseFactory, make_loan, staff

pytestmark = pytest.mark.django_db
INDEX = "/admin/"

# Every signed-in index: the session, the user, their permissions by role and their own (2), the
# admin log of the sidebar (recent actions).
BASE = 5
# The reviewer: their queue's count and its first five.
REVIEWER_QUERIES = BASE + 2
# Finance: the dashboard's stored figures (one query, as the beat job left them); this week's run;
# the approvals waiting for them, counted and the first five.
FINANCE_QUERIES = BASE + 4
# The collector: their cases' count and the first five.
COLLECTOR_QUERIES = BASE + 2
# A superuser holds every permission without reading them: session, user, admin log.
SUPERUSER_QUERIES = 3


def index(client, user, django_assert_num_queries, queries: int) -> str:
    # The figures as the beat job stores them each minute (a page never computes them).
    dashboard_services.refresh_dashboard_figures(today=timezone.localdate(), force=True)
    client.force_login(user)
    with django_assert_num_queries(queries):
        response = client.get(INDEX)
    assert response.status_code == 200
    return response.content.decode()


def in_review(officer, amount: str, **changes):
    return LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW,
        assigned_to=officer,
        assigned_at=timezone.now(),
        requested_amount=Decimal(amount),
        **changes,
    )


def test_a_reviewer_lands_on_their_queue(client, django_assert_num_queries):
    officer = staff("Loan officer", "olivia")
    # The admin queue's order (`?queue=mine`): the newest submission first.
    now = timezone.now()
    first = in_review(
        officer, "9000.00", proposed_amount=Decimal("8500.00"), customer__full_name="Ada First", submitted_at=now
    )
    for hours, amount in enumerate(["1000.00", "2000.00", "3000.00", "4000.00", "5000.00"], start=1):
        in_review(officer, amount, submitted_at=now - timedelta(hours=hours))
    in_review(staff("Loan officer", "other"), "7000.00")

    page = index(client, officer, django_assert_num_queries, REVIEWER_QUERIES)

    assert "6 applications in review assigned to you." in page
    change = reverse("admin:applications_loanapplication_change", args=[first.pk])
    assert (
        f'<a class="button" id="open-next-application" href="{change}?_changelist_filters=queue%3Dmine">'
        "Open the next: Ada First, 9000.00</a>"
    ) in page
    assert "The next 5 in your queue (1 more)" in page
    shown = page[page.index('id="landing-review-queue"') : page.index("Your whole queue")]
    amounts = ["9000.00", "1000.00", "2000.00", "3000.00", "4000.00"]
    assert [shown.index(f'<td class="numeric">{amount}</td>') for amount in amounts] == sorted(
        shown.index(f'<td class="numeric">{amount}</td>') for amount in amounts
    )
    assert '<td class="numeric">5000.00</td>' not in shown
    assert '<details id="all-models">' in page
    assert "landing-posting" not in page and "landing-collections" not in page


def test_an_empty_queue_says_so(client, django_assert_num_queries):
    officer = staff("Loan officer", "olivia")

    page = index(client, officer, django_assert_num_queries, REVIEWER_QUERIES - 1)  # no first five to read

    assert "Nothing in review is assigned to you." in page


def test_finance_lands_on_the_weeks_posting_and_the_approvals_waiting_for_them(client, django_assert_num_queries):
    fiona, mark = staff("Finance", "fiona"), staff("Finance", "mark")
    loan = make_loan(principal="400.00", weeks=4)
    theirs = loan_services.request_loan_restructuring(
        loan_id=loan.pk, kind="extension", periods=2, reason="Slow season", requested_by=mark
    )
    other = make_loan(principal="300.00", weeks=3)
    loan_services.request_loan_restructuring(
        loan_id=other.pk, kind="extension", periods=1, reason="Her own", requested_by=fiona
    )
    period_start, period_end = current_week()
    InstallmentPostingRun.objects.create(
        period_start=period_start - timedelta(weeks=1), period_end=period_end - timedelta(weeks=1), chunk_size=10
    )
    run = InstallmentPostingRun.objects.create(
        period_start=period_start, period_end=period_end, chunk_size=10, chunks_total=3, started_by=mark
    )

    page = index(client, fiona, django_assert_num_queries, FINANCE_QUERIES)

    run_url = reverse("admin:loans_installmentpostingrun_change", args=[run.pk])
    assert f'<a href="{run_url}">Posting run #{run.pk}</a>' in page
    assert "by mark:\n    <strong>in progress (3 chunks)</strong>" in page
    assert "1 request by others, oldest first" in page
    request_url = reverse("admin:core_approvalrequest_change", args=[theirs.pk])
    assert f'<a href="{request_url}">#{theirs.pk}</a></th><td>loans.restructure_loan</td>' in page
    assert f'<a href="{reverse("dashboard")}" class="button" id="dashboard-link">' in page
    drivers = reverse("admin:loans_driver_changelist")
    assert f'<form method="get" action="{drivers}" role="search">' in page
    # The dashboard's headline figures, as stored: the two loans above, nothing repaid.
    assert '<a href="/admin/loans/driverloan/?status__exact=active">700.00</a>' in page
    assert "principal outstanding on 2 active loan(s) (of 700.00 lent)" in page


def test_finance_sees_when_the_week_is_not_posted_yet(client, django_assert_num_queries):
    page = index(client, staff("Finance", "fiona"), django_assert_num_queries, FINANCE_QUERIES - 1)

    assert "<strong>Not posted yet.</strong>" in page
    assert "No request waits for you." in page


def test_a_collector_lands_on_their_cases_largest_arrears_first(client, django_assert_num_queries):
    carl, fiona = staff("Collector", "carl"), staff("Finance", "fiona")
    assigned = {"collector": carl, "assigned_by": fiona, "assigned_at": timezone.now()}
    small = CollectionCaseFactory(driver__full_name="Kofi Small", overdue_amount=Decimal("120.00"), **assigned)
    large = CollectionCaseFactory(driver__full_name="Ama Large", overdue_amount=Decimal("300.00"), **assigned)
    CollectionCaseFactory(driver__full_name="Paid Up", days_past_due=0, overdue_amount=Decimal("0"), **assigned)
    CollectionCaseFactory(driver__full_name="Someone Else")

    page = index(client, carl, django_assert_num_queries, COLLECTOR_QUERIES)

    assert "2 delinquent drivers assigned to you." in page
    workspace = reverse("admin:loans_collectioncase_workspace")
    large_url, small_url = f"{workspace}#case-{large.pk}", f"{workspace}#case-{small.pk}"
    assert page.index(f'<a href="{large_url}">Ama Large</a>') < page.index(f'<a href="{small_url}">Kofi Small</a>')
    assert "Paid Up" not in page and "Someone Else" not in page
    assert f'<a class="button" id="open-workspace" href="{workspace}">Open your workspace</a>' in page
    queue = reverse("admin:loans_collectioncase_changelist")
    assert f'<a href="{queue}">Your queue as a list</a>' in page


def test_superusers_and_auditors_keep_the_list_of_models(client, admin_user, django_assert_num_queries):
    page = index(client, admin_user, django_assert_num_queries, SUPERUSER_QUERIES)
    auditor_page = index(client, staff("Auditor", "audrey"), django_assert_num_queries, BASE)

    for shown in (page, auditor_page):
        assert 'id="role-landing"' not in shown and "all-models" not in shown
        assert '<div id="content-main">' in shown and 'id="dashboard-link"' in shown


def test_a_staff_member_without_a_role_sees_the_index_as_before(client, django_assert_num_queries):
    page = index(client, StaffUserFactory(), django_assert_num_queries, BASE)

    assert 'id="role-landing"' not in page


def test_a_manager_lands_on_their_queue_too(client, django_assert_num_queries):
    manager = staff("Loan manager", "maria")
    in_review(manager, "40000.00", proposed_amount=Decimal("40000.00"), customer__full_name="Big Loan")

    page = index(client, manager, django_assert_num_queries, REVIEWER_QUERIES)

    assert "1 application in review assigned to you." in page
    assert "Open the next: Big Loan, 40000.00" in page
    assert "landing-posting" not in page and "landing-collections" not in page
