"""The `application.submitted` consumer and the sweep: no application is left waiting for scoring.

An event counts as consumed only once its application is scored (or no longer scorable); an
application held by another transaction, or a database error, rolls the receipt back and the task
retries. What still slips through (retries exhausted, no active policy) the sweep scores later.
"""

from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from agents import services
from agents.models import ScoringRun
from agents.tasks import score_stalled_applications_task, score_submitted_application_task
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from applications.tests.factories import LoanApplicationFactory
from loanproject.core.errors import DomainError
from loanproject.core.models import ProcessedEvent

from .factories import strong_application, submitted_event


@contextmanager
def row_locked_elsewhere(application: LoanApplication):
    """Another session holds the application's row lock (a reviewer, a withdrawal, another scorer)."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None, host=db["HOST"], port=db["PORT"] or 5432
    ) as other:
        other.execute("SELECT id FROM applications_loanapplication WHERE id = %s FOR UPDATE", [application.pk])
        yield
        other.rollback()


@pytest.fixture(autouse=True)
def retries_run_in_place(settings):
    """Celery's eager `apply` runs a retry at once, unless errors propagate (then the first
    attempt's Retry escapes): here the result carries the final error instead."""
    settings.CELERY_TASK_EAGER_PROPAGATES = False


def receipts() -> int:
    return ProcessedEvent.objects.filter(consumer=score_submitted_application_task.name).count()


@pytest.mark.django_db(transaction=True)  # the other session must see the committed application
def test_an_application_locked_elsewhere_is_retried_not_consumed_unscored(scoring_policy):
    application = strong_application()
    event = submitted_event(application)

    with row_locked_elsewhere(application), pytest.raises(services.ApplicationsLocked):
        score_submitted_application_task.apply(args=[event.pk]).get()

    application.refresh_from_db()
    assert (application.status, application.version) == (ApplicationStatus.SUBMITTED, 1)
    assert (receipts(), ScoringRun.objects.count()) == (0, 0)

    assert score_submitted_application_task.apply(args=[event.pk]).get() is True

    application.refresh_from_db()
    assert (application.status, application.version) == (ApplicationStatus.PRE_APPROVED, 2)
    assert (receipts(), ScoringRun.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_a_consumer_that_loses_the_database_once_is_retried_and_scores_once(monkeypatch):
    application = strong_application()
    event = submitted_event(application)
    score = services.score_applications
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["application_ids"])
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return score(**kwargs)

    monkeypatch.setattr(services, "score_applications", flaky)

    assert score_submitted_application_task.apply(args=[event.pk]).get() is True

    assert calls == [[str(application.pk)], [str(application.pk)]]
    application.refresh_from_db()
    assert (application.status, application.version) == (ApplicationStatus.PRE_APPROVED, 2)
    assert (receipts(), ScoringRun.objects.filter(application=application).count()) == (1, 1)


@pytest.mark.django_db
def test_a_consumer_that_keeps_failing_gives_up_after_its_retries_and_records_nothing(monkeypatch):
    application = strong_application()
    event = submitted_event(application)
    calls = []

    def down(**kwargs):
        calls.append(1)
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "score_applications", down)

    with pytest.raises(OperationalError):
        score_submitted_application_task.apply(args=[event.pk]).get()

    assert len(calls) == score_submitted_application_task.max_retries + 1
    application.refresh_from_db()
    assert (application.status, application.version) == (ApplicationStatus.SUBMITTED, 1)
    assert receipts() == 0


def waiting_since(minutes: int, **fields) -> LoanApplication:
    application = strong_application(**fields)
    LoanApplication.objects.filter(pk=application.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))
    return application


@pytest.mark.django_db
class TestSweep:
    def test_it_scores_exactly_the_applications_left_waiting_longer_than_the_limit(self):
        stalled_submitted = waiting_since(11)
        stalled_rescore = waiting_since(45, status=ApplicationStatus.SCORING)
        fresh = waiting_since(9)
        decided_long_ago = waiting_since(120, status=ApplicationStatus.MANUAL_REVIEW)

        report = services.score_stalled_applications(unchanged_for=timedelta(minutes=10))

        assert sorted(report.application_ids) == sorted([str(stalled_submitted.pk), str(stalled_rescore.pk)])
        assert (report.scored, report.pre_approved, report.skipped) == (2, 2, 0)
        assert sorted(ScoringRun.objects.values_list("application_id", "trigger")) == sorted(
            [(stalled_submitted.pk, "sweep"), (stalled_rescore.pk, "sweep")]
        )
        assert set(LoanApplication.objects.values_list("pk", "status", "version")) == {
            (stalled_submitted.pk, ApplicationStatus.PRE_APPROVED, 2),
            (stalled_rescore.pk, ApplicationStatus.PRE_APPROVED, 2),
            (fresh.pk, ApplicationStatus.SUBMITTED, 1),
            (decided_long_ago.pk, ApplicationStatus.MANUAL_REVIEW, 1),
        }

    def test_the_task_sweeps_and_reports(self):
        stalled = waiting_since(30)
        LoanApplicationFactory(status=ApplicationStatus.REJECTED)

        summary = score_stalled_applications_task.apply(kwargs={"unchanged_for_minutes": 15}).get()

        assert summary == {
            "scored": 1,
            "pre_approved": 1,
            "manual_review": 0,
            "rejected": 0,
            "with_failed_agents": 0,
            "skipped": 0,
            "seconds": summary["seconds"],
        }
        stalled.refresh_from_db()
        assert stalled.status == ApplicationStatus.PRE_APPROVED

    def test_nothing_stalled_is_nothing_done(self):
        waiting_since(1)

        summary = score_stalled_applications_task.apply(kwargs={"unchanged_for_minutes": 15}).get()

        assert (summary["scored"], summary["skipped"], ScoringRun.objects.count()) == (0, 0, 0)

    def test_a_waiting_time_that_is_not_positive_is_refused_and_nothing_is_scored(self):
        stalled = waiting_since(30)

        with pytest.raises(DomainError, match=r"^The sweep needs a positive waiting time\.$"):
            services.score_stalled_applications(unchanged_for=timedelta(0))

        stalled.refresh_from_db()
        assert (stalled.status, ScoringRun.objects.count()) == (ApplicationStatus.SUBMITTED, 0)
