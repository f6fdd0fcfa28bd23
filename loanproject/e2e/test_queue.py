"""The real queue: a Celery worker and beat on Redis run the back office's background work.

Nothing runs eagerly here. A partner's submission reaches the scoring agents through the outbox,
the relay and the worker; beat's weekly posting entry, overdue after a missed Sunday, fires and
the worker posts the week's installments.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from agents.models import ScoringRun
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, Notification
from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload
from conftest import running_worker, wait_until
from loanproject.core.beat import DatabaseScheduler
from loans.models import InstallmentPostingRun, InstallmentStatus
from loans.periods import current_week
from loans.tests.factories import make_loan

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_submitted_application_is_scored_by_the_worker(client, redis_broker, scoring_policy):
    partner = PartnerFactory()

    with running_worker(redis_broker):
        response = client.post("/api/v1/applications/", data=json.dumps(application_payload()),
                               content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}")
        assert response.status_code == 202
        application_id = response.json()["id"]
        status = wait_until(
            lambda: LoanApplication.objects.filter(pk=application_id).exclude(status=ApplicationStatus.SUBMITTED)
            .values_list("status", flat=True).first(),
            timeout=30,
        )
        wait_until(lambda: Notification.objects.filter(application_id=application_id, status="sent").count() == 2, timeout=30)

    assert status in {ApplicationStatus.PRE_APPROVED, ApplicationStatus.MANUAL_REVIEW, ApplicationStatus.REJECTED}
    assert ScoringRun.objects.filter(application_id=application_id).count() == 1


def test_beat_fires_the_weekly_posting_and_the_worker_posts(redis_broker):
    from celery.beat import EmbeddedService

    this_sunday = current_week()[0]
    loan = make_loan(principal="400.00", weeks=2, start=this_sunday)
    posting = PeriodicTask.objects.get(name="loans-weekly-posting")
    assert (posting.crontab.minute, posting.crontab.hour, posting.crontab.day_of_week, str(posting.crontab.timezone)) == (
        "0", "5", "sun", "America/New_York")
    # Beat was down last Sunday at 05:00: the entry is overdue and fires on beat's first tick.
    PeriodicTask.objects.filter(pk=posting.pk).update(last_run_at=timezone.now() - timedelta(days=8))

    beat = EmbeddedService(redis_broker, thread=True, scheduler_cls=DatabaseScheduler)  # CELERY_BEAT_SCHEDULER's
    with running_worker(redis_broker):
        beat.start()
        try:
            run = wait_until(lambda: InstallmentPostingRun.objects.filter(finished_at__isnull=False).first(), timeout=40)
        finally:
            beat.stop()

    assert (run.period_start, run.posted, run.failed) == (this_sunday, 1, 0)
    assert list(loan.installments.order_by("sequence").values_list("status", flat=True)) == [
        InstallmentStatus.POSTED, InstallmentStatus.SCHEDULED]
    assert PeriodicTask.objects.get(pk=posting.pk).last_run_at > timezone.now() - timedelta(minutes=5)
