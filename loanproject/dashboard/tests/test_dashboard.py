import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications.lifecycle import ApplicationStatus
from applications.tests.factories import LoanApplicationFactory, ReviewerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db
URL = "/admin/dashboard/"


def charts_of(response) -> dict:
    raw = re.search(r'<script id="dashboard-charts" type="application/json">(.*?)</script>', response.content.decode(), re.S)
    return {chart["key"]: chart for chart in json.loads(raw.group(1))}


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_dashboard_shows_exact_figures_and_links_to_the_lists(admin_client):
    officer = ReviewerFactory(user__username="olivia")
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user)
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)
    LoanApplicationFactory(status=ApplicationStatus.APPROVED, approved_amount=Decimal("100.00"), decided_at=timezone.now())
    LoanApplicationFactory(status=ApplicationStatus.REJECTED, decided_at=timezone.now())
    LoanApplicationFactory(status=ApplicationStatus.REJECTED, decided_at=timezone.now() - timedelta(days=40))

    response = admin_client.get(URL)

    assert response.status_code == 200
    charts = charts_of(response)
    assert set(charts) == {"applications_by_status", "applications_per_day", "review_queue", "posted_per_week", "loans_aging"}
    by_status = charts["applications_by_status"]
    assert dict(zip(by_status["labels"], by_status["values"])) == {
        "Submitted": 0, "Scoring": 0, "Pre-approved": 0, "Manual review": 2, "Approved": 1, "Rejected": 2,
        "Withdrawn": 0, "Booked": 0,
    }
    assert by_status["links"][3] == "/admin/applications/loanapplication/?status__exact=manual_review"
    assert charts["applications_per_day"]["values"][-1] == 5
    assert dict(zip(charts["review_queue"]["labels"], charts["review_queue"]["values"])) == {"(unassigned)": 1, "olivia": 1}
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


def test_queries_do_not_grow_with_rows(admin_client):
    def queries() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(URL).status_code == 200
        return len(captured)

    LoanApplicationFactory.create_batch(2)
    few = queries()
    LoanApplicationFactory.create_batch(20, status=ApplicationStatus.REJECTED, decided_at=timezone.now())
    ReviewerFactory.create_batch(3)

    assert queries() == few


def test_figures_are_cached_for_a_minute(admin_client):
    admin_client.get(URL)
    with CaptureQueriesContext(connection) as captured:
        admin_client.get(URL)

    assert not any("loans_installment" in query["sql"] or "applications_loanapplication" in query["sql"]
                   for query in captured.captured_queries)


def test_sections_follow_permissions(client):
    officer = StaffUserFactory()
    officer.groups.add(Group.objects.get(name="Loan officer"))
    client.force_login(officer)

    charts = charts_of(client.get(URL))

    assert set(charts) == {"applications_by_status", "applications_per_day", "review_queue"}


def test_only_staff_see_the_dashboard(client):
    assert client.get(URL).status_code == 302
