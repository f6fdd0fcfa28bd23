"""The real queue: a Celery worker and beat on Redis run the back office's background work.

Nothing runs eagerly here. A partner's submission reaches the scoring agents through the outbox,
the relay and the worker; beat's weekly posting entry, overdue after a missed Sunday, fires and
the worker posts the week's installments; a posting run whose worker was killed and whose queue
was flushed is finished by beat's recovery sweep on a fresh worker process.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from agents.models import ScoringRun
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, Notification
from applications.tests.factories import PartnerFactory, issue_key
from applications.tests.payloads import application_payload
from conftest import running_worker, wait_until
from ledger.models import Account, AccountType, Posting
from loanproject.core.beat import DatabaseScheduler
from loanproject.tests.processes import free_port, production_env_on_test_database
from loanproject.tests.worker import Worker
from loans import selectors, services
from loans.models import InstallmentPostingRun, InstallmentStatus, PostingRunChunk
from loans.periods import current_week
from loans.tests.factories import SUNDAY, make_loan
from loans.tests.test_posting_races import WEEK, _backends_waiting_on_a_lock, assert_each_installment_posted_once, loans
from loans.tests.test_posting_recovery import RowLock

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_submitted_application_is_scored_by_the_worker(client, redis_broker, scoring_policy):
    partner = PartnerFactory()

    with running_worker(redis_broker):
        response = client.post(
            "/api/v1/applications/",
            data=json.dumps(application_payload()),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {issue_key(partner)}",
        )
        assert response.status_code == 202
        application_id = response.json()["id"]
        status = wait_until(
            lambda: (
                LoanApplication.objects.filter(pk=application_id)
                .exclude(status=ApplicationStatus.SUBMITTED)
                .values_list("status", flat=True)
                .first()
            ),
            timeout=30,
        )
        wait_until(
            lambda: Notification.objects.filter(application_id=application_id, status="sent").count() == 2, timeout=30
        )

    assert status in {ApplicationStatus.PRE_APPROVED, ApplicationStatus.MANUAL_REVIEW, ApplicationStatus.REJECTED}
    assert ScoringRun.objects.filter(application_id=application_id).count() == 1


def test_beat_fires_the_weekly_posting_and_the_worker_posts(redis_broker):
    from celery.beat import EmbeddedService

    this_sunday = current_week()[0]
    loan = make_loan(principal="400.00", weeks=2, start=this_sunday)
    posting = PeriodicTask.objects.get(name="loans-weekly-posting")
    assert (
        posting.crontab.minute,
        posting.crontab.hour,
        posting.crontab.day_of_week,
        str(posting.crontab.timezone),
    ) == ("0", "5", "sun", "America/New_York")
    # Beat was down last Sunday at 05:00: the entry is overdue and fires on beat's first tick.
    PeriodicTask.objects.filter(pk=posting.pk).update(last_run_at=timezone.now() - timedelta(days=8))

    beat = EmbeddedService(redis_broker, thread=True, scheduler_cls=DatabaseScheduler)  # CELERY_BEAT_SCHEDULER's
    with running_worker(redis_broker):
        beat.start()
        try:
            run = wait_until(lambda: selectors.posting_runs().filter(finished_at__isnull=False).first(), timeout=40)
        finally:
            beat.stop()

    assert (run.period_start, run.posted, run.failed) == (this_sunday, 1, 0)
    assert list(loan.installments.order_by("sequence").values_list("status", flat=True)) == [
        InstallmentStatus.POSTED,
        InstallmentStatus.SCHEDULED,
    ]
    assert PeriodicTask.objects.get(pk=posting.pk).last_run_at > timezone.now() - timedelta(minutes=5)


# --- A stranded posting run -----------------------------------------------------------------------

SWEEP_ENTRY = "loans-recover-stalled-posting-runs"


def every_second(entry: str) -> None:
    """What staff do in the admin ("Periodic tasks"): run this entry every second. Beat keeps it."""
    task = PeriodicTask.objects.get(name=entry)
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    task.crontab = None
    task.save()


def book_balances() -> bool:
    totals = Posting.objects.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return totals["debit"] == totals["credit"]


def test_a_run_whose_worker_was_killed_and_broker_flushed_finishes_by_itself(tmp_path, redis_broker, admin_client):
    from celery.beat import EmbeddedService

    made = loans(10)  # 30 installments due: 15 chunks of 2, week 1 of every loan first
    # The ninth loan's driver paid ahead: chunk 5 (week 1 of loans 9 and 10) spends his credit and
    # locks his credit account first; the test holds that lock, so the worker stops in chunk 5.
    services.record_driver_payment(
        driver_id=made[8].driver_id, amount=Decimal("50.00"), received_on=SUNDAY, idempotency_key="ahead"
    )
    credit_account = Account.objects.get(party_id=str(made[8].driver_id), type=AccountType.LIABILITY, category="")
    holder = RowLock("ledger_account", credit_account.pk).start()
    first_worker = Worker(production_env_on_test_database(tmp_path))
    try:
        first_worker.wait_for(" ready.")
        run = services.queue_posting_run(**WEEK, chunk_size=2)
        wait_until(
            lambda: selectors.posting_runs().get(pk=run.pk).chunks_done == 4 and _backends_waiting_on_a_lock() >= 1,
            timeout=60,
        )
        first_worker.kill()  # kill -9 of the worker and its pool, mid-chunk
    finally:
        if first_worker.process.poll() is None:
            first_worker.stop()
        with redis_broker.connection_for_write() as connection:
            connection.default_channel.client.flushdb()  # the queued and the unacked chunk messages are gone
        holder.stop()

    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.chunks_total, run.chunks_done, run.posted, run.finished_at) == (15, 4, 8, None)

    # No human action from here: a worker, and beat running the production schedule (the sweep
    # every second instead of every few minutes, a run stalled after 1 s instead of minutes).
    directory, port = tmp_path / "prometheus", free_port()
    directory.mkdir()
    every_second(SWEEP_ENTRY)
    worker = Worker(
        production_env_on_test_database(
            tmp_path,
            LOANS_POSTING_STALLED_AFTER_SECONDS="1",
            PROMETHEUS_MULTIPROC_DIR=str(directory),
            CELERY_METRICS_PORT=str(port),
            CELERY_METRICS_ADDR="127.0.0.1",
        )
    )
    beat = EmbeddedService(redis_broker, thread=True, scheduler_cls=DatabaseScheduler)
    try:
        worker.wait_for(" ready.")
        beat.start()
        wait_until(lambda: InstallmentPostingRun.objects.get(pk=run.pk).finished_at, timeout=90, interval=0.5)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        beat.stop()
        worker.stop()

    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.chunks_done, run.processed, run.posted, run.skipped, run.failed, run.locked) == (15, 30, 30, 0, 0, 0)
    assert run.recovered_at is not None
    recovered = (
        PostingRunChunk.objects.filter(run=run).order_by("first_due", "first_id").values_list("recovered", flat=True)
    )
    assert list(recovered) == [False] * 4 + [True] * 11  # chunk 5 (killed mid-way) and the ten flushed ones
    assert_each_installment_posted_once(30)
    assert book_balances()
    assert "installment_posting_runs_recovered_total 1.0" in metrics
    assert "installment_posting_chunks_recovered_total 11.0" in metrics
    listed = admin_client.get("/admin/loans/installmentpostingrun/", {"needed_recovery": "yes"})
    assert [row.pk for row in listed.context["cl"].result_list] == [run.pk]
    assert (
        list(
            admin_client.get("/admin/loans/installmentpostingrun/", {"needed_recovery": "no"}).context["cl"].result_list
        )
        == []
    )
