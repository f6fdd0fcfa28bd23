"""Races on real PostgreSQL: two requests at once, one winner, nothing half-done."""

import json
import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections
from rest_framework.test import APIClient

from applications import services
from applications.lifecycle import ApplicationStatus
from applications.models import Customer, LoanApplication, ReviewDecision
from loanproject.core.errors import StaleVersion
from loanproject.core.models import IdempotencyKey, OutboxEvent

from .factories import LoanApplicationFactory, ManagerFactory, PartnerFactory, ReviewerFactory, issue_key
from .payloads import application_payload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*functions):
    """Start every function at the same moment in its own thread; return results or exceptions."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def runner(index, function):
        try:
            barrier.wait()
            results[index] = function()
        except Exception as exc:  # collected for the assertions
            results[index] = exc
        finally:
            close_old_connections()

    threads = [threading.Thread(target=runner, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_decisions_on_the_same_version_one_wins():
    manager = ManagerFactory()
    approver, rejecter = ReviewerFactory(manager=manager), ReviewerFactory(manager=manager)
    application = LoanApplicationFactory(status=ApplicationStatus.MANUAL_REVIEW, requested_amount=Decimal("5000.00"))

    results = run_together(
        lambda: services.record_review_decision(
            application_id=application.pk, expected_version=1, reviewer_user=approver.user, approve=True
        ),
        lambda: services.record_review_decision(
            application_id=application.pk, expected_version=1, reviewer_user=rejecter.user, approve=False,
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
    assert OutboxEvent.objects.filter(topic="application.decided").count() == 1


def test_two_assigners_at_once_never_overfill_an_officer():
    officers = [ReviewerFactory(capacity=3), ReviewerFactory(capacity=3)]
    first_batch = LoanApplicationFactory.create_batch(4, status=ApplicationStatus.MANUAL_REVIEW)
    second_batch = LoanApplicationFactory.create_batch(4, status=ApplicationStatus.MANUAL_REVIEW)

    results = run_together(
        lambda: services.assign_waiting_applications(application_ids=[a.pk for a in first_batch]),
        lambda: services.assign_waiting_applications(application_ids=[a.pk for a in second_batch]),
    )

    assert sorted(results) == [2, 4], results  # the first fills 2+2, the second finds room for 2
    loads = sorted(
        LoanApplication.objects.filter(assigned_to=officer.user).count() for officer in officers
    )
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
    assert OutboxEvent.objects.filter(topic="application.submitted").count() == 1


def test_two_new_applications_for_the_same_new_customer_share_one_customer():
    partner = PartnerFactory()
    key = issue_key(partner)

    def submit(ref):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client.post(
            "/api/v1/applications/", data=json.dumps(application_payload(external_ref=ref)), content_type="application/json"
        )

    first, second = run_together(lambda: submit("A-1"), lambda: submit("A-2"))

    assert (first.status_code, second.status_code) == (202, 202)
    assert Customer.objects.count() == 1
    assert LoanApplication.objects.count() == 2
