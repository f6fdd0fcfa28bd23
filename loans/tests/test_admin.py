from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time

from applications.lifecycle import ApplicationStatus
from applications.tests.admin_pages import inline_post_data
from applications.tests.factories import LoanApplicationFactory, StaffUserFactory
from loanproject.core.testing import approve_waiting_requests
from loans import selectors, services
from loans.models import Driver, DriverLoan, Installment, InstallmentPostingRun, InstallmentStatus, LoanStatus

from .conftest import week
from .factories import SUNDAY, DriverFactory, LeaseFactory, make_loan

pytestmark = pytest.mark.django_db


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def posted_loans(count: int) -> None:
    officer = StaffUserFactory()
    for _ in range(count):
        make_loan(weeks=2, created_by=officer)
    services.post_weekly_installments(**week(SUNDAY))


@pytest.mark.parametrize(
    "url_name, make_rows",
    [
        ("admin:loans_driverloan_changelist", posted_loans),
        ("admin:loans_installment_changelist", posted_loans),
        ("admin:loans_installmentpostingrun_changelist", posted_loans),
        ("admin:loans_driver_changelist", lambda n: DriverFactory.create_batch(n)),
        ("admin:loans_lease_changelist", lambda n: LeaseFactory.create_batch(n)),
    ],
)
def test_loan_changelists_do_not_query_per_row(admin_client, url_name, make_rows):
    make_rows(2)
    queries_for(admin_client, reverse(url_name))  # warm caches
    few = queries_for(admin_client, reverse(url_name))

    make_rows(12)
    many = queries_for(admin_client, reverse(url_name))

    assert many == few


def test_the_loan_page_costs_the_same_for_few_and_many_installments(admin_client):
    short = make_loan(weeks=3)
    long = make_loan(weeks=520)
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))
    queries_for(admin_client, reverse("admin:loans_driverloan_change", args=[short.pk]))

    few = queries_for(admin_client, reverse("admin:loans_driverloan_change", args=[short.pk]))
    many = queries_for(admin_client, reverse("admin:loans_driverloan_change", args=[long.pk]))

    assert many == few == LOAN_PAGE_QUERIES


# Session and user, the loan with everything it shows (one join), the schedule's rows and totals (2),
# its schedule versions (1), its delinquency state and history (2), its ledger entries (1)
# (loans/loan_page.py; test_loan_page.py counts it for a Finance user).
LOAN_PAGE_QUERIES = 9


def test_the_loan_page_summarises_the_schedule_and_links_to_its_installments(admin_client):
    loan = make_loan(principal="300.00", weeks=3)
    services.post_weekly_installments(**week(SUNDAY))
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("40.00"), received_on=SUNDAY, idempotency_key="p"
    )
    first, second, third = loan.installments.order_by("sequence")

    page = admin_client.get(reverse("admin:loans_driverloan_change", args=[loan.pk])).content.decode()

    assert f'<td class="numeric">40.00</td><td class="numeric">{first.amount - Decimal("40.00")}</td>' in page
    assert f"next to post: installment 2, due {second.due_date.isoformat()}, {second.amount}" in page
    link = reverse("admin:loans_installment_changelist") + f"?loan__id__exact={loan.pk}"
    assert f'<a href="{link}">the installments list of this loan</a>.' in page
    assert 'name="_save"' not in page

    listed = admin_client.get(link)
    assert [row.pk for row in listed.context["cl"].result_list] == [third.pk, second.pk, first.pk]


def booking(lease, **changes) -> dict:
    return {
        "source_application": "",
        "driver": lease.driver_id,
        "lease": lease.pk,
        "principal": "1000.00",
        "annual_interest_rate": "5.2",
        "start_week": "2026-01-04",
        "installment_count": 4,
        "frequency": "weekly",
        "method": "equal_principal",
        "purpose": "Brakes",
        **changes,
    }


def test_a_loan_is_booked_from_the_admin_through_the_service(admin_client, admin_user):
    lease = LeaseFactory()

    response = admin_client.post(reverse("admin:loans_driverloan_add"), booking(lease))

    assert response.status_code == 302, response.context["adminform"].form.errors
    loan = DriverLoan.objects.get()
    assert (loan.created_by, loan.installments.count(), loan.installments.get(sequence=1).interest) == (
        admin_user,
        4,
        Decimal("1.00"),
    )


def test_a_refused_booking_shows_the_error_and_books_nothing(admin_client):
    lease = LeaseFactory()

    response = admin_client.post(reverse("admin:loans_driverloan_add"), booking(lease, start_week="2026-01-06"))

    assert response.status_code == 200
    assert "loans start on a Sunday" in response.content.decode()
    assert DriverLoan.objects.count() == 0


def test_an_approved_application_is_booked_from_the_admin(admin_client):
    application = LoanApplicationFactory(
        status=ApplicationStatus.APPROVED, approved_amount=Decimal("900.00"), interest_rate=Decimal("9"), term_months=3
    )
    lease = LeaseFactory()

    response = admin_client.post(
        reverse("admin:loans_driverloan_add"),
        booking(
            lease,
            source_application=application.pk,
            principal="",
            annual_interest_rate="",
            installment_count="",
            purpose="",
            frequency="monthly",
            method="annuity",
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    loan = DriverLoan.objects.get()
    application.refresh_from_db()
    assert (loan.principal, loan.installment_count, loan.source_application) == (Decimal("900.00"), 3, application)
    assert application.status == ApplicationStatus.BOOKED


def test_the_post_action_posts_the_selected_loans_this_week(admin_client, django_capture_on_commit_callbacks):
    chosen, other = make_loan(weeks=2), make_loan(weeks=2)

    # The chunks are queued when the run's transaction commits; in a test that is the end of the block.
    with freeze_time("2026-01-05 15:00"), django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:loans_driverloan_changelist"),
            {"action": "post_due_installments", "_selected_action": [chosen.pk]},
            follow=True,
        )

    run = selectors.posting_runs().get()
    assert [str(m) for m in response.context["messages"]] == [
        f"Posting run #{run.pk} (week of 2026-01-04) started: 1 chunk(s) queued for the workers."
    ]
    assert (run.loan_ids, run.posted, run.finished_at is not None) == ([chosen.pk], 1, True)
    assert chosen.installments.filter(status=InstallmentStatus.POSTED).count() == 1
    assert other.installments.filter(status=InstallmentStatus.POSTED).count() == 0


def test_a_posting_run_is_started_from_the_admin(admin_client, django_capture_on_commit_callbacks):
    make_loan(weeks=2)

    with freeze_time("2026-01-08 12:00"), django_capture_on_commit_callbacks(execute=True):  # the current week
        response = admin_client.post(
            reverse("admin:loans_installmentpostingrun_add"), {"week": "2026-01-08"}, follow=True
        )

    run = selectors.posting_runs().get()
    assert (run.period_start, run.posted, run.finished_at is not None, run.started_by.username) == (
        SUNDAY,
        1,
        True,
        "admin",
    )
    assert f"Posting run #{run.pk} (week of 2026-01-04) started" in str(next(iter(response.context["messages"])))


def test_a_loan_manager_cannot_post_or_cancel():
    user = StaffUserFactory()
    user.groups.add(Group.objects.get(name="Loan manager"))
    client = Client()
    client.force_login(user)
    loan = make_loan(weeks=2)

    changelist = client.get(reverse("admin:loans_driverloan_changelist"))
    client.post(
        reverse("admin:loans_driverloan_changelist"), {"action": "post_due_installments", "_selected_action": [loan.pk]}
    )
    add_run = client.get(reverse("admin:loans_installmentpostingrun_add"))

    assert changelist.status_code == 200
    assert changelist.context["action_form"] is None  # no action is open to a manager
    assert add_run.status_code == 403
    assert InstallmentPostingRun.objects.count() == 0


def test_cancel_and_reverse_actions(admin_client):
    to_cancel = make_loan(weeks=2)
    posted = make_loan(weeks=2)
    services.post_weekly_installments(**week(SUNDAY), loan_ids=[posted.pk])
    installment = posted.installments.get(sequence=1)

    admin_client.post(
        reverse("admin:loans_driverloan_changelist"),
        {"action": "cancel_loans", "_selected_action": [to_cancel.pk, posted.pk]},
    )
    admin_client.post(
        reverse("admin:loans_installment_changelist"),
        {"action": "reverse_postings", "_selected_action": [installment.pk], "apply": "1", "reason": "posted twice"},
    )
    installment.refresh_from_db()
    assert installment.status == InstallmentStatus.POSTED  # asked: waiting for a second person
    assert [r.action for r in approve_waiting_requests()] == ["loans.reverse_installment_posting"]

    to_cancel.refresh_from_db()
    posted.refresh_from_db()
    installment.refresh_from_db()
    assert (to_cancel.status, posted.status) == (LoanStatus.CANCELLED, LoanStatus.ACTIVE)
    assert (installment.status, installment.posting_attempt) == (InstallmentStatus.SCHEDULED, 2)


def test_reports_show_in_the_admin_and_export_only_with_the_permission(admin_client):
    loan = make_loan(principal="400.00", weeks=4)
    auditor = StaffUserFactory()
    auditor.groups.add(Group.objects.get(name="Auditor"))
    auditor_client = Client()
    auditor_client.force_login(auditor)
    url = reverse("admin:loans_report", args=["unposted"])

    page = admin_client.get(url, {"week": "2026-01-11"})
    exported = admin_client.get(url, {"week": "2026-01-11", "export": "csv"})
    index = admin_client.get(reverse("admin:loans_reports"))

    assert page.status_code == 200 and loan.loan_number in page.content.decode()
    assert (
        b"".join(exported.streaming_content).decode().splitlines()[0]
        == "Loan,Driver,TLC licence,No.,Due,Principal,Interest,Amount"
    )
    assert "Open items aging" in index.content.decode()
    assert auditor_client.get(url, {"week": "2026-01-11"}).status_code == 200
    assert auditor_client.get(url, {"week": "2026-01-11", "export": "csv"}).status_code == 403


def test_a_driver_is_registered_through_the_service(admin_client):
    response = admin_client.post(
        reverse("admin:loans_driver_add"),
        {
            "tlc_license_number": " 5123 456 ",
            "full_name": "Ravi Kumar",
            "email": "",
            "phone": "",
            "status": "active",
            "customer": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Driver.objects.get().tlc_license_number == "5123456"
    assert Installment.objects.count() == 0


def test_a_driver_change_whose_lease_inline_is_invalid_changes_nothing(client):
    """Every service-backed page validates its inlines before the service runs (the shared mixin)."""
    clerk = StaffUserFactory()
    clerk.groups.add(Group.objects.get(name="Finance"))
    client.force_login(clerk)
    lease = LeaseFactory(driver__full_name="Ravi Kumar")
    url = reverse("admin:loans_driver_change", args=[lease.driver_id])
    page = client.get(url)
    inline = {name: value for name, value in inline_post_data(page).items() if not name.endswith("-TOTAL_FORMS")}

    response = client.post(
        url,
        {
            **inline,
            "full_name": "Ravi K. Renamed",
            "email": "ravi@example.com",
            "phone": "",
            "status": "active",
            "customer": "",
        },
    )

    assert response.status_code == 200
    assert "ManagementForm data is missing or has been tampered with" in response.content.decode()
    assert Driver.objects.values_list("full_name", "email").get(pk=lease.driver_id) == (
        "Ravi Kumar",
        lease.driver.email,
    )


def test_a_driver_change_with_its_inline_goes_through_the_service(client):
    clerk = StaffUserFactory()
    clerk.groups.add(Group.objects.get(name="Finance"))
    client.force_login(clerk)
    lease = LeaseFactory(driver__full_name="Ravi Kumar")
    url = reverse("admin:loans_driver_change", args=[lease.driver_id])
    page = client.get(url)

    response = client.post(
        url,
        {
            **inline_post_data(page),
            "full_name": "Ravi K. Renamed",
            "email": "ravi@example.com",
            "phone": "",
            "status": "active",
            "customer": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Driver.objects.values_list("full_name", "email").get(pk=lease.driver_id) == (
        "Ravi K. Renamed",
        "ravi@example.com",
    )


def test_every_loans_admin_page_renders(admin_client):
    loan = make_loan(weeks=2)
    services.post_weekly_installments(**week(SUNDAY))
    installment = loan.installments.get(sequence=1)
    run = InstallmentPostingRun.objects.get()
    urls = [
        reverse("admin:loans_driver_add"),
        reverse("admin:loans_driver_change", args=[loan.driver_id]),
        reverse("admin:loans_lease_add"),
        reverse("admin:loans_lease_change", args=[loan.lease_id]),
        reverse("admin:loans_driverloan_add"),
        reverse("admin:loans_installment_change", args=[installment.pk]),
        reverse("admin:loans_installmentpostingrun_add"),
        reverse("admin:loans_installmentpostingrun_change", args=[run.pk]),
        *[
            reverse("admin:loans_report", args=[name])
            for name in ("unposted", "portfolio", "portfolio-by-driver", "posted-totals", "aging")
        ],
        reverse("admin:ledger_account_changelist"),
        reverse("admin:ledger_openitem_changelist"),
    ]

    assert {url: admin_client.get(url).status_code for url in urls} == dict.fromkeys(urls, 200)


# --- Dates out of range and the driver filter --------------------------------------------------------


@pytest.mark.parametrize(
    "name, query, field",
    [
        ("unposted", {"week": "0001-01-01"}, "week"),
        ("aging", {"as_of": "0001-01-01"}, "as_of"),
        ("posted-totals", {"date_to": "9999-12-31"}, "date_to"),
    ],
)
def test_an_admin_report_date_out_of_range_is_shown_as_an_error(admin_client, name, query, field):
    page = admin_client.get(reverse("admin:loans_report", args=[name]), query)

    assert page.status_code == 200
    assert page.context["error"] == f"{field}: Enter a date between 1970-01-01 and 2200-12-31, got {query[field]}."
    assert page.context["rows"] == []


def test_the_admin_unposted_report_filters_by_driver(admin_client):
    mine, other = make_loan(weeks=2), make_loan(weeks=2)
    unfiltered = admin_client.get(reverse("admin:loans_report", args=["unposted"]), {"week": "2026-01-04"})

    page = admin_client.get(
        reverse("admin:loans_report", args=["unposted"]), {"week": "2026-01-04", "driver": mine.driver_id}
    )

    assert sorted(row[0] for row in unfiltered.context["rows"]) == sorted([mine.loan_number, other.loan_number])
    assert [row[0] for row in page.context["rows"]] == [mine.loan_number]
    assert f'name="driver" min="1" value="{mine.driver_id}"' in page.content.decode()


def test_a_posting_run_for_a_week_out_of_range_is_a_form_error(admin_client):
    response = admin_client.post(reverse("admin:loans_installmentpostingrun_add"), {"week": "0001-01-01"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "week": ["Enter a date between 1970-01-01 and 2200-12-31, got 0001-01-01."]
    }
    assert InstallmentPostingRun.objects.count() == 0


def test_a_loan_starting_out_of_range_is_a_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:loans_driverloan_add"), booking(LeaseFactory(), start_week="9999-12-26")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["start_week"] == [
        "Enter a date between 1970-01-01 and 2200-12-31, got 9999-12-26."
    ]
    assert DriverLoan.objects.count() == 0


def test_a_runs_page_lists_its_chunks(admin_client):
    for _ in range(3):
        make_loan(weeks=2)
    services.post_weekly_installments(**week(SUNDAY), chunk_size=2)
    run = InstallmentPostingRun.objects.get()

    page = admin_client.get(reverse("admin:loans_installmentpostingrun_change", args=[run.pk]))

    assert page.status_code == 200
    formset = page.context["inline_admin_formsets"][0].formset
    assert [(form.instance.planned, form.instance.finished_at is not None) for form in formset.forms] == [
        (2, True),
        (1, True),
    ]
    shown = {
        field.field["name"]: field.contents()
        for fieldset in page.context["adminform"]
        for line in fieldset
        for field in line
    }
    figures = ("chunks_done", "processed", "posted", "skipped", "failed", "locked", "total_amount", "chunks_recovered")
    assert {name: shown[name] for name in figures} == {
        "chunks_done": "2",
        "processed": "3",
        "posted": "3",
        "skipped": "0",
        "failed": "0",
        "locked": "0",
        "total_amount": "1500.00",
        "chunks_recovered": "0",
    }


def test_the_journal_source_filter_offers_the_sources_loans_books():
    from ledger.sources import journal_sources
    from loans.models import DISBURSEMENT_SOURCE, POSTING_SOURCE

    assert {POSTING_SOURCE, DISBURSEMENT_SOURCE} <= set(journal_sources())
