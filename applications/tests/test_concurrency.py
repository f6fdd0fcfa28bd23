"""Races on real PostgreSQL: two requests at once, one winner, nothing half-done."""

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, ReviewDecision
from conftest import wait_until
from loanproject.core import topics
from loanproject.core.errors import StaleVersion
from loanproject.core.models import IdempotencyKey, OutboxEvent
from loanproject.core.testing import run_together

from .factories import LoanApplicationFactory, ManagerFactory, PartnerFactory, ReviewerFactory, issue_key
from .payloads import application_payload

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_decisions_on_the_same_version_one_wins():
    manager = ManagerFactory()
    approver, rejecter = ReviewerFactory(manager=manager), ReviewerFactory(manager=manager)
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, requested_amount=Decimal("5000.00"))

    results = run_together(
        lambda: services.record_review_decision(
            application_id=application.pk, expected_version=1, reviewer_user=approver.user, approve=True
        ),
        lambda: services.record_review_decision(
            application_id=application.pk,
            expected_version=1,
            reviewer_user=rejecter.user,
            approve=False,
            reasons=[services.Reason(code="R01", text="no")],
        ),
    )

    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], StaleVersion)
    application.refresh_from_db()
    assert application.version == 2
    assert application.status == winners[0].status
    assert ReviewDecision.objects.filter(application=application).count() == 1
    assert OutboxEvent.objects.filter(topic=topics.APPLICATION_DECIDED).count() == 1


def test_two_assigners_at_once_never_overfill_an_officer():
    officers = [ReviewerFactory(capacity=3), ReviewerFactory(capacity=3)]
    first_batch = LoanApplicationFactory.create_batch(4, status=ApplicationStatus.MANUAL_REVIEW)
    second_batch = LoanApplicationFactory.create_batch(4, status=ApplicationStatus.MANUAL_REVIEW)

    results = run_together(
        lambda: services.assign_waiting_applications(application_ids=[a.pk for a in first_batch]),
        lambda: services.assign_waiting_applications(application_ids=[a.pk for a in second_batch]),
    )

    assert sorted(results) == [2, 4], results  # the first fills 2+2, the second finds room for 2
    loads = sorted(LoanApplication.objects.filter(assigned_to=officer.user).count() for officer in officers)
    assert loads == [3, 3]
    assert LoanApplication.objects.filter(assigned_to__isnull=True).count() == 2


def test_the_same_idempotency_key_twice_at_once_creates_one_application():
    partner = PartnerFactory()
    key = issue_key(partner)
    body = json.dumps(application_payload())

    def submit():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_IDEMPOTENCY_KEY="same-key")
        return client.post("/api/v1/applications/", data=body, content_type="application/json")

    first, second = run_together(submit, submit)

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"]
    assert LoanApplication.objects.count() == 1
    assert Customer.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED).count() == 1


def test_two_new_applications_for_the_same_new_customer_share_one_customer():
    partner = PartnerFactory()
    key = issue_key(partner)

    def submit(ref):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client.post(
            "/api/v1/applications/",
            data=json.dumps(application_payload(external_ref=ref)),
            content_type="application/json",
        )

    first, second = run_together(lambda: submit("A-1"), lambda: submit("A-2"))

    assert (first.status_code, second.status_code) == (202, 202)
    assert Customer.objects.count() == 1
    assert LoanApplication.objects.count() == 2


def test_the_same_application_ref_twice_at_once_is_one_202_and_one_409():
    partner = PartnerFactory()
    key = issue_key(partner)

    def submit(customer_ref):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        body = application_payload(external_ref="APP-SAME")
        body["customer"]["external_ref"] = customer_ref  # two customers: the race is on the application
        return client.post("/api/v1/applications/", data=json.dumps(body), content_type="application/json")

    answers = run_together(lambda: submit("CUST-A"), lambda: submit("CUST-B"))

    assert not [a for a in answers if isinstance(a, Exception)], answers
    assert sorted(answer.status_code for answer in answers) == [202, 409], [a.json() for a in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["error"]["code"] == "application_exists"
    assert LoanApplication.objects.filter(external_ref="APP-SAME").count() == 1
    assert Customer.objects.count() == 1  # the loser's customer went with its transaction
    assert OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED).count() == 1


def test_two_assigners_of_the_same_applications_assign_each_once():
    from auditlog.models import LogEntry

    ReviewerFactory(capacity=10), ReviewerFactory(capacity=10)
    waiting = LoanApplicationFactory.create_batch(4, status=ApplicationStatus.MANUAL_REVIEW)
    ids = [application.pk for application in waiting]

    results = run_together(
        lambda: services.assign_waiting_applications(application_ids=ids),
        lambda: services.assign_waiting_applications(application_ids=ids),
    )

    assert sorted(results) == [0, 4], results
    assert sorted(LoanApplication.objects.filter(pk__in=ids).values_list("version", flat=True)) == [2, 2, 2, 2]
    assert LoanApplication.objects.filter(pk__in=ids, assigned_to__isnull=True).count() == 0
    for application in waiting:
        assert LogEntry.objects.get_for_object(application).filter(action=LogEntry.Action.UPDATE).count() == 1


def test_an_application_decided_while_an_assigner_waits_for_it_is_not_assigned():
    ReviewerFactory(capacity=10)
    manager = ManagerFactory()
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW)
    decided, release = threading.Event(), threading.Event()

    def decide_and_hold_the_lock():
        with transaction.atomic():
            services.record_review_decision(
                application_id=application.pk,
                expected_version=1,
                reviewer_user=manager.user,
                approve=False,
                reasons=[services.Reason(code="R01", text="no")],
            )
            decided.set()
            assert release.wait(20)
        return "decided"

    def assign_once_decided():
        assert decided.wait(20)
        return services.assign_waiting_applications(application_ids=[application.pk])

    def release_once_the_assigner_waits():
        assert decided.wait(20)
        wait_until(lambda: lock_waiters() == 1)
        release.set()

    results = run_together(decide_and_hold_the_lock, assign_once_decided, release_once_the_assigner_waits)

    assert results == ["decided", 0, None], results
    application.refresh_from_db()
    assert (application.status, application.assigned_to_id, application.version) == (
        ApplicationStatus.REJECTED,
        None,
        2,
    )


def lock_waiters() -> int:
    """Sessions of this database waiting for a row lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
