"""The Celery doors: the beat schedule, the weekly task, chunks shared by real workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler
from freezegun import freeze_time

from conftest import current_database_url, wait_until
from loans import selectors, services
from loans.accounts import interest_income_account
from loans.models import InstallmentPostingRun
from loans.tasks import post_weekly_installments_task

from .factories import SUNDAY, StaffUserFactory, make_loan
from .test_posting_races import assert_each_installment_posted_once

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_beat_posts_every_sunday_at_five_new_york_time_and_staff_can_see_it():
    from loanproject.celery import app

    # What `celery beat` (DatabaseScheduler) does on start: the declared schedules go to the database.
    for name, entry in app.conf.beat_schedule.items():
        DatabaseScheduler.Entry.from_entry(name, app=app, **entry)

    task = PeriodicTask.objects.select_related("crontab").get(name="loans-weekly-posting")
    cron = task.crontab
    assert task.task == "loans.post_weekly_installments" and task.enabled
    assert (cron.minute, cron.hour, cron.day_of_week, cron.day_of_month, cron.month_of_year) == (
        "0",
        "5",
        "sun",
        "*",
        "*",
    )
    assert str(cron.timezone) == "America/New_York"
    # Sunday 4 January 2026, 04:59 in New York: due in one minute (10:00 UTC, not 05:00 UTC).
    last_run = datetime(2025, 12, 28, 5, 0, tzinfo=ZoneInfo("America/New_York"))
    with freeze_time("2026-01-04 09:59:00"):
        due, next_check = cron.schedule.is_due(last_run)
    assert (due, round(next_check)) == (False, 60)


@pytest.mark.django_db
def test_the_weekly_task_posts_the_given_week_through_its_chunk_tasks(django_capture_on_commit_callbacks):
    loan = make_loan(principal="400.00", weeks=4)

    # The given week is the current one: a past week is a maker-checker request, not a task.
    with freeze_time("2026-01-13 12:00"), django_capture_on_commit_callbacks(execute=True):  # chunks queued on commit
        report = post_weekly_installments_task.delay(week="2026-01-13").get()  # eager in tests

    run = selectors.posting_runs().get(pk=report["run_id"])
    assert (report["period_start"], run.chunks_total, run.posted, run.finished_at is not None) == (
        "2026-01-11",
        1,
        2,
        True,
    )
    assert run.started_by.username == "system"
    assert loan.installments.filter(status="posted").count() == 2


def start_worker_process(name: str) -> subprocess.Popen:
    """A real `celery worker` process on the test database and the test Redis."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loanproject.settings.development",
        "DATABASE_URL": current_database_url(),
        "CELERY_BROKER_URL": settings.TEST_REDIS_URL,
        "DJANGO_DEBUG": "0",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "INFO",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "loanproject",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class WorkerLog:
    """Reads a worker's output in the background (a full pipe would block the worker)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(process.stdout.readline, "")), daemon=True)
        self.thread.start()

    def contains(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def count_tasks(self, name: str) -> int:
        """Tasks of that name this worker ran to the end (Celery logs one line for each)."""
        return sum(f"Task {name}[" in line and " succeeded in " in line for line in list(self.lines))


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_chunks_of_a_large_run(redis_broker):
    officer = StaffUserFactory()
    for _ in range(10):
        make_loan(principal="1200.00", weeks=3, rate="10", created_by=officer)
    interest_income_account()
    workers = [start_worker_process(f"posting{n}") for n in (1, 2)]
    logs = [WorkerLog(worker) for worker in workers]
    try:
        wait_until(lambda: all(log.contains("ready.") for log in logs), timeout=60)
        run = services.queue_posting_run(
            period_start=SUNDAY + timedelta(weeks=2), period_end=SUNDAY + timedelta(weeks=2, days=6), chunk_size=4
        )
        wait_until(lambda: InstallmentPostingRun.objects.get(pk=run.pk).finished_at, timeout=60)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)  # warm shutdown: finish the task in hand
        for worker in workers:
            worker.wait(30)
        for log in logs:
            log.thread.join(10)

    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.chunks_total, run.chunks_done, run.processed, run.posted, run.failed, run.locked) == (
        8,
        8,
        30,
        30,
        0,
        0,
    )
    chunks_per_worker = [log.count_tasks("loans.post_installment_chunk") for log in logs]
    assert sum(chunks_per_worker) == 8, chunks_per_worker
    assert min(chunks_per_worker) >= 1, chunks_per_worker  # both workers posted: the chunks are shared
    assert_each_installment_posted_once(30)
