from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from applications.lifecycle import ApplicationStatus
from applications.models import Notification, ReviewDecision

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
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer_client.officer.user,
                                         requested_amount=Decimal("6000.00"))

    page = officer_client.get(change_url(application))
    response = officer_client.post(change_url(application), {**inline_post_data(page), "outcome": "approve",
                                                              "amount": "5500.00", "rate": "", "reason_code": "",
                                                              "comment": "ok", "seen_version": "1"})

    assert "Your decision" in page.content.decode()
    assert 'name="seen_version" value="1"' in page.content.decode()
    assert 'name="outcome"' in page.content.decode() and 'name="rate"' in page.content.decode()
    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.status, application.approved_amount, application.decided_by) == (
        ApplicationStatus.APPROVED, Decimal("5500.00"), officer_client.officer.user)


def test_a_stale_page_shows_the_conflict_and_changes_nothing(officer_client):
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer_client.officer.user,
                                         version=4)

    page = officer_client.get(change_url(application))
    response = officer_client.post(change_url(application), {**inline_post_data(page), "outcome": "approve", "amount": "",
                                                              "rate": "", "reason_code": "", "comment": "",
                                                              "seen_version": "3"})

    assert response.status_code == 200
    assert "changed since you read it" in response.content.decode()
    assert ReviewDecision.objects.count() == 0


def test_a_rejection_without_a_reason_is_a_form_error(officer_client):
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer_client.officer.user)

    page = officer_client.get(change_url(application))
    response = officer_client.post(change_url(application), {**inline_post_data(page), "outcome": "reject", "amount": "",
                                                              "rate": "", "reason_code": "", "comment": "",
                                                              "seen_version": "1"})

    assert response.status_code == 200
    assert "State the reason for the rejection." in response.content.decode()


def test_the_queue_filter_shows_my_work(officer_client):
    mine = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, assigned_to=officer_client.officer.user)
    LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)

    response = officer_client.get(reverse("admin:applications_loanapplication_changelist"), {"queue": "mine"})

    assert list(response.context["cl"].result_list) == [mine]


def test_rescore_action_scores_again_and_keeps_history(admin_client, django_capture_on_commit_callbacks):
    from agents.models import ScoringRun

    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, credit_score=780)
    decided = LoanApplicationFactory(status=ApplicationStatus.REJECTED)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:applications_loanapplication_changelist"),
            {"action": "rescore", "_selected_action": [application.pk, decided.pk]}, follow=True,
        )

    messages = [str(m) for m in response.context["messages"]]
    assert "Re-scoring 1 application(s)." in messages
    assert any("1 application(s) skipped" in m for m in messages)
    assert ScoringRun.objects.filter(application=application).count() == 1
    application.refresh_from_db()
    # 10,000 requested on 60,000 a year with a 780 score: within every automatic limit.
    assert (application.status, application.approved_amount, application.version) == (
        ApplicationStatus.PRE_APPROVED, Decimal("10000.00"), 3)


def test_publishing_a_policy_in_the_admin_adds_an_active_version(admin_client):
    from agents.models import ScoringPolicy

    add_url = reverse("admin:agents_scoringpolicy_add")
    initial = admin_client.get(add_url).context["adminform"].form.initial
    data = {key: value for key, value in initial.items() if value is not None}
    data.update(name="Tighter", pre_approve_max_amount="20000.00")

    response = admin_client.post(add_url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(ScoringPolicy.objects.order_by("version").values_list("version", "is_active", "pre_approve_max_amount")) == [
        (1, False, Decimal("25000.00")), (2, True, Decimal("20000.00"))]


def test_an_inconsistent_policy_is_refused_on_the_form(admin_client):
    from agents.models import ScoringPolicy

    add_url = reverse("admin:agents_scoringpolicy_add")
    data = {k: v for k, v in admin_client.get(add_url).context["adminform"].form.initial.items() if v is not None}
    data.update(pre_approve_from_credit_score=500)  # below the rejection score

    response = admin_client.post(add_url, data)

    assert response.status_code == 200
    assert ScoringPolicy.objects.count() == 1


def test_failed_notifications_can_be_retried_from_the_admin(admin_client):
    failed = Notification.objects.create(channel="sms", recipient="+1 555", customer=CustomerFactory(),
                                         template="application_approved", status="failed", attempts=6)

    admin_client.post(reverse("admin:applications_notification_changelist"),
                      {"action": "retry", "_selected_action": [failed.pk]})

    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)


@pytest.mark.parametrize("url_name", ["admin:agents_scoringrun_changelist", "admin:agents_agentresult_changelist",
                                      "admin:applications_notification_changelist", "admin:applications_reviewer_changelist"])
def test_new_changelists_do_not_grow_queries_with_rows(admin_client, url_name):
    from agents import services

    def score(count):
        applications = [LoanApplicationFactory(customer=CustomerFactory()) for _ in range(count)]
        services.score_applications(application_ids=[a.pk for a in applications])
        for _ in range(count):
            ReviewerFactory()

    score(2)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(reverse(url_name)).status_code == 200
    score(12)
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(reverse(url_name)).status_code == 200

    assert len(many) == len(few)
