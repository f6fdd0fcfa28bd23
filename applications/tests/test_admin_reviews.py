from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from applications.lifecycle import ApplicationStatus
from applications.models import Notification, ReviewDecision
from loanproject.core.models import OutboxEvent

from .admin_pages import inline_post_data
from .factories import CustomerFactory, LoanApplicationFactory, ManagerFactory, ReviewerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer_client(client):
    officer = ReviewerFactory(manager=ManagerFactory())
    officer.user.groups.add(Group.objects.get(name="Loan officer"))
    client.force_login(officer.user)
    client.officer = officer
    return client


def change_url(application) -> str:
    return reverse("admin:applications_loanapplication_change", args=[application.pk])


def test_an_officer_decides_on_the_application_page(officer_client):
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW,
        assigned_to=officer_client.officer.user,
        requested_amount=Decimal("6000.00"),
    )

    page = officer_client.get(change_url(application))
    response = officer_client.post(
        change_url(application),
        {
            **inline_post_data(page),
            "outcome": "approve",
            "amount": "5500.00",
            "rate": "",
            "reason_code": "",
            "comment": "ok",
            "seen_version": "1",
        },
    )

    assert "Your decision" in page.content.decode()
    assert 'name="seen_version" value="1"' in page.content.decode()
    assert 'name="outcome"' in page.content.decode() and 'name="rate"' in page.content.decode()
    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.status, application.approved_amount, application.decided_by) == (
        ApplicationStatus.APPROVED,
        Decimal("5500.00"),
        officer_client.officer.user,
    )


def test_a_stale_page_shows_the_conflict_and_changes_nothing(officer_client):
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer_client.officer.user, version=4
    )

    page = officer_client.get(change_url(application))
    response = officer_client.post(
        change_url(application),
        {
            **inline_post_data(page),
            "outcome": "approve",
            "amount": "",
            "rate": "",
            "reason_code": "",
            "comment": "",
            "seen_version": "3",
        },
    )

    assert response.status_code == 200
    assert "changed since you read it" in response.content.decode()
    assert ReviewDecision.objects.count() == 0


def test_a_rejection_without_a_reason_is_a_form_error(officer_client):
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer_client.officer.user
    )

    page = officer_client.get(change_url(application))
    response = officer_client.post(
        change_url(application),
        {
            **inline_post_data(page),
            "outcome": "reject",
            "amount": "",
            "rate": "",
            "reason_code": "",
            "comment": "",
            "seen_version": "1",
        },
    )

    assert response.status_code == 200
    assert "State the reason for the rejection." in response.content.decode()


def test_the_queue_filter_shows_my_work(officer_client):
    mine = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer_client.officer.user)
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

    response = officer_client.get(reverse("admin:applications_loanapplication_changelist"), {"queue": "mine"})

    assert list(response.context["cl"].result_list) == [mine]


def test_failed_notifications_can_be_retried_from_the_admin(admin_client):
    failed = Notification.objects.create(
        channel="sms",
        recipient="+1 555",
        customer=CustomerFactory(),
        template="application_approved",
        status="failed",
        attempts=6,
    )

    admin_client.post(
        reverse("admin:applications_notification_changelist"), {"action": "retry", "_selected_action": [failed.pk]}
    )

    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)


@pytest.mark.parametrize(
    "url_name", ["admin:applications_notification_changelist", "admin:applications_reviewer_changelist"]
)
def test_new_changelists_do_not_grow_queries_with_rows(admin_client, url_name):
    def add_rows(count):
        for _ in range(count):
            Notification.objects.create(
                channel="email", recipient="a@example.com", customer=CustomerFactory(), template="application_approved"
            )
            ReviewerFactory()

    add_rows(2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(reverse(url_name)).status_code == 200
    add_rows(10)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(reverse(url_name))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 12
    assert len(many) == len(few)


@pytest.mark.django_db(transaction=True)
def test_a_decision_whose_inline_is_invalid_commits_nothing(client):
    """The page shows the inline's error: the decision must not have been committed behind it."""
    officer = ReviewerFactory(manager=ManagerFactory())
    officer.user.groups.add(Group.objects.get(name="Loan officer"))
    client.force_login(officer.user)
    application = LoanApplicationFactory(
        status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer.user, requested_amount=Decimal("6000.00")
    )
    page = client.get(change_url(application))
    # A browser that dropped the inline's management form (or a hand-made POST) sends an invalid formset.
    tampered = {name: value for name, value in inline_post_data(page).items() if not name.endswith("-TOTAL_FORMS")}
    events_before = list(OutboxEvent.objects.values_list("pk", flat=True))

    response = client.post(
        change_url(application),
        {
            **tampered,
            "outcome": "approve",
            "amount": "5500.00",
            "rate": "",
            "reason_code": "",
            "comment": "ok",
            "seen_version": "1",
        },
    )

    assert response.status_code == 200
    assert "ManagementForm data is missing or has been tampered with" in response.content.decode()
    application.refresh_from_db()
    assert (application.status, application.version, application.approved_amount, application.decided_by) == (
        ApplicationStatus.MANUAL_REVIEW,
        1,
        None,
        None,
    )
    assert ReviewDecision.objects.count() == 0
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == events_before
    assert Notification.objects.count() == 0
