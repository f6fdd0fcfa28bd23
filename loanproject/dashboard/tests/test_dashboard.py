import json
import re
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import LoanApplicationFactory, ReviewerFactory, StaffUserFactory
from conftest import celery_broker
from ledger import selectors as ledger_selectors
from loanproject.core.testing import deadline
from loanproject.dashboard import figures, services
from loanproject.dashboard.models import DashboardSection
from loanproject.dashboard.selectors import STALE_AFTER
from loans import services as loan_services
from loans.periods import current_week, week_containing
from loans.tests.factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db
URL = "/admin/dashboard/"
# Session, user, the stored sections: however many rows there are.
PAGE_QUERIES = 3
# A forced refresh: its savepoint, status counts, applications per day, review queue, approval rate,
# posted per week, portfolio, loans by delinquency class (counts, overdue amounts, the classes),
# aging, the upsert of the three sections, the savepoint's release.
REFRESH_QUERIES = 13


def charts_of(response) -> dict:
    raw = re.search(
        r'<script id="dashboard-charts" type="application/json">(.*?)</script>', response.content.decode(), re.S
    )
    return {chart["key"]: chart for chart in json.loads(raw.group(1))}


def test_the_dashboard_shows_exact_figures_and_links_to_the_lists(admin_client):
    officer = ReviewerFactory(user__username="olivia")
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user)
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)
    LoanApplicationFactory(
        status=ApplicationStatus.APPROVED, approved_amount=Decimal("100.00"), decided_at=timezone.now()
    )
    LoanApplicationFactory(status=ApplicationStatus.REJECTED, decided_at=timezone.now())
    LoanApplicationFactory(status=ApplicationStatus.REJECTED, decided_at=timezone.now() - timedelta(days=40))

    response = admin_client.get(URL)

    assert response.status_code == 200
    charts = charts_of(response)
    assert set(charts) == {
        "applications_by_status",
        "applications_per_day",
        "review_queue",
        "posted_per_week",
        "loans_by_delinquency_class",
        "loans_aging",
    }
    by_status = charts["applications_by_status"]
    assert dict(zip(by_status["labels"], by_status["values"], strict=True)) == {
        "Submitted": 0,
        "Scoring": 0,
        "Pre-approved": 0,
        "Manual review": 2,
        "Approved": 1,
        "Rejected": 2,
        "Withdrawn": 0,
        "Booked": 0,
    }
    assert by_status["links"][3] == "/admin/applications/loanapplication/?status__exact=manual_review"
    assert charts["applications_per_day"]["values"][-1] == 5
    assert dict(zip(charts["review_queue"]["labels"], charts["review_queue"]["values"], strict=True)) == {
        "(unassigned)": 1,
        "olivia": 1,
    }
    page = response.content.decode()
    assert "50.0 %" in page  # one approved, one rejected within 30 days
    assert "chart-4.6.1.umd.min.js" in page


def test_every_link_opens_a_filtered_list(admin_client):
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=ReviewerFactory().user)
    charts = charts_of(admin_client.get(URL))

    for chart in charts.values():
        for link in [chart["list_url"], *chart["links"]]:
            response = admin_client.get(link)
            assert response.status_code == 200, link  # an unknown filter would redirect with ?e=1


def post_week_of(loan_start: date, *, weeks: int, principal: str, through: date) -> None:
    make_loan(principal=principal, weeks=weeks, start=loan_start)
    sunday, saturday = week_containing(through)
    loan_services.post_weekly_installments(period_start=sunday, period_end=saturday)


def test_queries_do_not_grow_with_rows(admin_client, django_assert_num_queries):
    this_sunday = current_week()[0]

    def add_rows(count: int) -> None:
        LoanApplicationFactory.create_batch(count, status=ApplicationStatus.REJECTED, decided_at=timezone.now())
        for _ in range(count):
            reviewer = ReviewerFactory()
            LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=reviewer.user)
            # Installments posted over three weeks, each an open item of the driver.
            post_week_of(this_sunday - timedelta(weeks=2), weeks=4, principal="400.00", through=this_sunday)

    def refresh_and_page() -> None:
        with django_assert_num_queries(REFRESH_QUERIES):
            assert services.refresh_dashboard_figures(today=timezone.localdate(), force=True) == [
                "applications",
                "loans",
                "ledger",
            ]
        with django_assert_num_queries(PAGE_QUERIES):
            assert admin_client.get(URL).status_code == 200

    add_rows(1)
    refresh_and_page()
    add_rows(3)
    refresh_and_page()

    charts = charts_of(admin_client.get(URL))
    assert sum(charts["posted_per_week"]["values"]) == 12  # the rows were there to be counted
    assert charts["review_queue"]["values"] == [1, 1, 1, 1]


def aggregates_in(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if "loans_installment" in query["sql"] or "applications_loanapplication" in query["sql"]
    ]


def test_pages_show_the_stored_figures_until_the_next_refresh(admin_client):
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)
    first = admin_client.get(URL)  # nothing stored: the refresh runs (in-process here), then the page reads it
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

    with CaptureQueriesContext(connection) as captured:
        second = admin_client.get(URL)

    assert aggregates_in(captured) == []
    assert charts_of(second) == charts_of(first)
    assert charts_of(second)["applications_by_status"]["values"][3] == 1
    assert "Figures as of " in second.content.decode()
    services.refresh_dashboard_figures(today=timezone.localdate(), force=True)
    assert charts_of(admin_client.get(URL))["applications_by_status"]["values"][3] == 2


def test_a_recent_refresh_is_not_repeated_unless_forced():
    today = timezone.localdate()

    assert services.refresh_dashboard_figures(today=today) == ["applications", "loans", "ledger"]
    assert services.refresh_dashboard_figures(today=today) == []
    assert services.refresh_dashboard_figures(today=today + timedelta(days=1)) == ["applications", "loans", "ledger"]
    assert set(DashboardSection.objects.values_list("computed_for", flat=True)) == {today + timedelta(days=1)}


@pytest.mark.parametrize(
    "age, computed_for_offset", [(STALE_AFTER + timedelta(seconds=1), 0), (timedelta(seconds=30), -1)]
)
def test_stale_figures_ask_for_a_refresh(admin_client, age, computed_for_offset):
    admin_client.get(URL)
    DashboardSection.objects.update(
        computed_at=timezone.now() - age, computed_for=timezone.localdate() + timedelta(days=computed_for_offset)
    )
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

    response = admin_client.get(URL)  # tasks run in-process here: the refresh is done before the page reads

    assert charts_of(response)["applications_by_status"]["values"][3] == 1
    assert "being refreshed" not in response.content.decode()


def test_with_nothing_stored_and_the_broker_down_the_page_answers_at_once(admin_client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    with celery_broker("redis://127.0.0.1:1/0"), deadline(10), CaptureQueriesContext(connection) as captured:
        started = time.monotonic()
        response = admin_client.get(URL)
        took = time.monotonic() - started

    assert response.status_code == 200
    assert took < 1.0, f"the page took {took:.2f} s"
    assert aggregates_in(captured) == []
    assert charts_of(response) == {}
    assert "Some figures are being computed: reload in a minute." in response.content.decode()
    assert "no permission" not in response.content.decode()
    assert not DashboardSection.objects.exists()


def test_a_section_name_outside_the_known_ones_is_refused():
    with pytest.raises(IntegrityError, match="dashboard_section_known_name"):
        DashboardSection.objects.create(
            name="salaries", figures={}, computed_for=timezone.localdate(), computed_at=timezone.now()
        )


def test_sections_follow_permissions(client):
    officer = StaffUserFactory()
    officer.groups.add(Group.objects.get(name="Loan officer"))
    client.force_login(officer)

    charts = charts_of(client.get(URL))

    assert set(charts) == {"applications_by_status", "applications_per_day", "review_queue"}


def test_only_staff_see_the_dashboard(client):
    assert client.get(URL).status_code == 302


def test_posted_installments_are_counted_and_summed_per_week_due():
    post_week_of(SUNDAY, weeks=4, principal="400.00", through=SUNDAY + timedelta(weeks=2))  # 100.00 each
    post_week_of(SUNDAY + timedelta(weeks=1), weeks=2, principal="300.00", through=SUNDAY + timedelta(weeks=2))
    today = SUNDAY + timedelta(weeks=2, days=3)  # Wednesday 21 January 2026

    chart = figures.loan_charts(today)["charts"][0]

    assert chart.title == "Posted installments by week due, last 12 weeks"
    assert (chart.labels[0], chart.labels[-3:]) == ("2025-11-02", ["2026-01-04", "2026-01-11", "2026-01-18"])
    assert (chart.value_label, chart.values) == ("installments", [0] * 9 + [1, 2, 2])
    assert chart.second == {
        "label": "amount",
        "money": True,
        "kind": "line",
        "values": [Decimal("0.00")] * 9 + [Decimal("100.00"), Decimal("250.00"), Decimal("250.00")],
    }
    assert chart.links[-1] == (
        "/admin/loans/installment/?status__exact=posted&due_date__gte=2026-01-18&due_date__lte=2026-01-24"
    )


def test_aging_bars_link_to_exactly_the_items_the_ledger_counted(admin_client):
    post_week_of(SUNDAY, weeks=4, principal="400.00", through=SUNDAY + timedelta(weeks=2))
    post_week_of(SUNDAY + timedelta(weeks=1), weeks=2, principal="300.00", through=SUNDAY + timedelta(weeks=2))
    today = SUNDAY + timedelta(weeks=2, days=3)

    chart = figures.aging_chart(today)

    assert dict(zip(chart.labels, chart.values, strict=True)) == {
        "Current": Decimal("0.00"),
        "1-7 days": Decimal("250.00"),
        "8-30 days": Decimal("350.00"),
        "31-60 days": Decimal("0.00"),
        "60+ days": Decimal("0.00"),
    }
    assert chart.links[1] == (
        "/admin/ledger/openitem/?status__exact=open&account__category__exact=LOANS"
        "&due_date__gte=2026-01-14&due_date__lt=2026-01-21"
    )
    shown = [admin_client.get(link).context["cl"].result_count for link in chart.links]
    assert shown == [0, 2, 3, 0, 0]  # items (not amounts) behind each bar


def test_aging_links_follow_the_ledger_s_bucket_conditions(monkeypatch):
    monkeypatch.setattr(
        ledger_selectors,
        "aging_bucket_conditions",
        lambda as_of: {
            name: Q(due_date__gte=as_of - timedelta(days=n)) for n, name in enumerate(ledger_selectors.AGING_BUCKETS)
        },
    )

    chart = figures.aging_chart(date(2026, 1, 21))

    assert chart.links[2].endswith("&due_date__gte=2026-01-19")


def test_a_condition_admin_filters_cannot_express_is_refused():
    with pytest.raises(ValueError, match="not expressible as admin filters"):
        figures.admin_filter_of(Q(due_date__lt=date(2026, 1, 1)) | Q(due_date__gt=date(2026, 2, 1)))


def test_the_page_is_never_cached_and_needs_the_admin_login(client, admin_client):
    anonymous = client.get(URL)
    staff = admin_client.get(URL)

    assert (anonymous.status_code, anonymous["Location"]) == (302, "/admin/login/?next=/admin/dashboard/")
    assert staff["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_the_beat_job_computes_every_section_so_that_staff_never_wait(admin_client):
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)
    today = timezone.localdate()
    expected = {name: figures.compute_section(name, today) for name in ("applications", "loans", "ledger")}

    from loanproject.dashboard.tasks import refresh_dashboard_figures_task

    assert refresh_dashboard_figures_task.delay().get() == ["applications", "loans", "ledger"]
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(URL)

    assert response.status_code == 200
    assert aggregates_in(captured) == []
    stored = {row.name: row.figures for row in DashboardSection.objects.all()}
    assert stored == json.loads(json.dumps(expected, cls=DjangoJSONEncoder))
    assert stored["loans"]["portfolio"] == {"loans": 0, "principal": "0.00", "outstanding": "0.00"}


def test_loans_by_delinquency_class_counts_and_sums_each_class_and_links_to_its_loans(admin_client):
    from loans.models import DelinquencyClass

    late, later, _current = (make_loan(principal="400.00", weeks=4) for _ in range(3))
    loan_services.post_weekly_installments(period_start=SUNDAY, period_end=SUNDAY + timedelta(days=6))
    loan_services.record_driver_payment(
        driver_id=_current.driver_id, amount=Decimal("100.00"), received_on=SUNDAY, idempotency_key="paid-up"
    )
    loan_services.classify_delinquency(as_of=SUNDAY + timedelta(days=10))  # 10 days past due: 8-30
    loan_services.post_weekly_installments(
        period_start=SUNDAY + timedelta(weeks=1), period_end=SUNDAY + timedelta(days=13)
    )
    loan_services.classify_loans(loan_ids=[later.pk], as_of=SUNDAY + timedelta(days=12))  # still 8-30, 2 items
    loan_services.classify_loans(loan_ids=[_current.pk], as_of=SUNDAY + timedelta(days=5))  # nothing due: current

    chart = figures.delinquency_chart()

    eight_to_thirty = DelinquencyClass.objects.get(code="8-30")
    assert dict(zip(chart.labels, chart.values, strict=True))["8-30 days"] == 2
    by_class = {row["code"]: (row["loans"], row["overdue"]) for row in loan_selectors_by_class()}
    assert by_class == {
        "current": (1, Decimal("0.00")),
        "1-7": (0, Decimal("0.00")),
        # late (as of 14 Jan) and later (as of 16 Jan): 4 and 11 January unpaid, 200.00 each.
        "8-30": (2, Decimal("400.00")),
        "31-60": (0, Decimal("0.00")),
        "61-90": (0, Decimal("0.00")),
        "90-plus": (0, Decimal("0.00")),
    }
    index = chart.labels.index("8-30 days")
    assert chart.second["values"][index] == Decimal("400.00")
    assert chart.links[index] == (
        f"/admin/loans/driverloan/?delinquency__delinquency_class__id__exact={eight_to_thirty.pk}"
    )
    listed = admin_client.get(chart.links[index]).content.decode()
    assert late.loan_number in listed and later.loan_number in listed and _current.loan_number not in listed


def loan_selectors_by_class() -> list[dict]:
    from loans import selectors

    return selectors.loans_by_delinquency_class()
