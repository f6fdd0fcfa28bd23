"""Stranded posting runs finish by themselves: a worker killed mid-run, a flushed broker, a run
whose database connection dropped. Transactional tests on PostgreSQL: every chunk really commits,
and a real worker process shares the test database."""

from __future__ import annotations

import socket
import threading
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import Sum
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler
from freezegun import freeze_time

from conftest import wait_until
from ledger.models import Account, AccountType, Posting
from loanproject.tests.worker import Worker, production_env, worker_database_url
from loans import services
from loans.models import InstallmentPostingRun, PostingRunChunk

from .factories import SUNDAY
from .test_api import client_for
from .test_posting_races import WEEK, _backends_waiting_on_a_lock, assert_each_installment_posted_once, loans

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SWEEP_ENTRY = "loans-recover-stalled-posting-runs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RowLock:
    """Another transaction holding a row's lock until told to roll back."""

    def __init__(self, table: str, pk: int) -> None:
        self.taken, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(table, pk))

    def _hold(self, table: str, pk: int) -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [pk])
                self.taken.set()
                self.release.wait(120)
                cursor.execute("ROLLBACK")
        finally:
            connections["default"].close()

    def start(self) -> RowLock:
        self.thread.start()
        assert self.taken.wait(30)
        return self

    def stop(self) -> None:
        self.release.set()
        self.thread.join(30)


def worker_env(tmp_path, **extra: str) -> dict:
    """Production settings on the test database, with the test's encryption keys."""
    return production_env(
        tmp_path, DATABASE_URL=worker_database_url(), FIELD_ENCRYPTION_KEYS=settings.FIELD_ENCRYPTION_KEYS,
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY, **extra,
    )


@contextmanager
def beat_schedule(app, schedule: dict):
    """Beat reads this schedule instead of CELERY_BEAT_SCHEDULE (only the override layer changes)."""
    previous = app.conf.changes.get("beat_schedule")
    app.conf.update(beat_schedule=schedule)
    try:
        yield
    finally:
        app.conf.changes.pop("beat_schedule", None)
        if previous is not None:
            app.conf.update(beat_schedule=previous)


def book_balances() -> bool:
    totals = Posting.objects.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return totals["debit"] == totals["credit"]


@pytest.mark.redis
def test_a_run_whose_worker_was_killed_and_broker_flushed_finishes_by_itself(tmp_path, redis_broker, admin_client):
    from celery.beat import EmbeddedService

    made = loans(10)  # 30 installments due: 15 chunks of 2, week 1 of every loan first
    # The ninth loan's driver paid ahead: chunk 5 (week 1 of loans 9 and 10) spends his credit and
    # locks his credit account first; the test holds that lock, so the worker stops in chunk 5.
    services.record_driver_payment(driver_id=made[8].driver_id, amount=Decimal("50.00"), received_on=SUNDAY, idempotency_key="ahead")
    credit_account = Account.objects.get(party_id=str(made[8].driver_id), type=AccountType.LIABILITY, category="")
    holder = RowLock("ledger_account", credit_account.pk).start()
    first_worker = Worker(worker_env(tmp_path))
    try:
        first_worker.wait_for(" ready.")
        run = services.start_posting_run(**WEEK, chunk_size=2)
        wait_until(lambda: InstallmentPostingRun.objects.get(pk=run.pk).chunks_done == 4 and _backends_waiting_on_a_lock() >= 1,
                   timeout=60)
        first_worker.kill()  # kill -9 of the worker and its pool, mid-chunk
    finally:
        if first_worker.process.poll() is None:
            first_worker.stop()
        with redis_broker.connection_for_write() as connection:
            connection.default_channel.client.flushdb()  # the queued and the unacked chunk messages are gone
        holder.stop()

    run.refresh_from_db()
    assert (run.chunks_total, run.chunks_done, run.posted, run.finished_at) == (15, 4, 8, None)

    # No human action from here: a worker, and beat running the production schedule (the sweep
    # every second instead of every few minutes, a run stalled after 1 s instead of minutes).
    directory, port = tmp_path / "prometheus", free_port()
    directory.mkdir()
    schedule = {
        name: {**entry, "schedule": 1.0} if name == SWEEP_ENTRY else entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    }
    worker = Worker(worker_env(tmp_path, LOANS_POSTING_STALLED_AFTER_SECONDS="1", PROMETHEUS_MULTIPROC_DIR=str(directory),
                               CELERY_METRICS_PORT=str(port), CELERY_METRICS_ADDR="127.0.0.1"))
    with beat_schedule(redis_broker, schedule):
        beat = EmbeddedService(redis_broker, thread=True, scheduler_cls=DatabaseScheduler)
        try:
            worker.wait_for(" ready.")
            beat.start()
            wait_until(lambda: InstallmentPostingRun.objects.get(pk=run.pk).finished_at, timeout=90, interval=0.5)
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        finally:
            beat.stop()
            worker.stop()

    run.refresh_from_db()
    assert (run.chunks_done, run.processed, run.posted, run.skipped, run.failed, run.locked) == (15, 30, 30, 0, 0, 0)
    assert run.recovered_at is not None
    recovered = PostingRunChunk.objects.filter(run=run).order_by("first_due", "first_id").values_list("recovered", flat=True)
    assert list(recovered) == [False] * 4 + [True] * 11  # chunk 5 (killed mid-way) and the ten flushed ones
    assert_each_installment_posted_once(30)
    assert book_balances()
    assert "installment_posting_runs_recovered_total 1.0" in metrics
    assert "installment_posting_chunks_recovered_total 11.0" in metrics
    listed = admin_client.get("/admin/loans/installmentpostingrun/", {"needed_recovery": "yes"})
    assert [row.pk for row in listed.context["cl"].result_list] == [run.pk]
    assert list(admin_client.get("/admin/loans/installmentpostingrun/", {"needed_recovery": "no"}).context["cl"].result_list) == []


# --- A run cut off in-process, a run still progressing ----------------------------------------------


def test_a_command_run_cut_off_by_a_dropped_connection_is_finished_by_the_sweep():
    """`post_installments` in-process: chunk 1 commits, chunk 2 is blocked inside its write and its
    database session is killed; the process is gone, and nobody runs the week again."""
    loans(3)  # 9 due installments, chunks of 4: [4, 4, 1]
    first_chunk_done, lock_taken, release = threading.Event(), threading.Event(), threading.Event()
    posting_pid: dict[str, int] = {}

    def hold_open_items_lock():
        with connections["default"].cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("LOCK TABLE ledger_openitem IN SHARE ROW EXCLUSIVE MODE")
            lock_taken.set()
            release.wait(30)
            cursor.execute("ROLLBACK")
        connections["default"].close()

    def after_chunk(done, total):
        if done and not first_chunk_done.is_set():
            posting_pid["pid"] = connections["default"].connection.info.backend_pid
            first_chunk_done.set()
            assert lock_taken.wait(30)

    locker = threading.Thread(target=lambda: first_chunk_done.wait(30) and hold_open_items_lock())
    locker.start()
    outcome: dict = {}

    def post():
        try:
            outcome["result"] = services.post_weekly_installments(**WEEK, chunk_size=4, on_progress=after_chunk)
        except Exception as exc:  # the killed session
            outcome["error"] = exc
        finally:
            connections["default"].close()

    poster = threading.Thread(target=post)
    poster.start()
    wait_until(lambda: posting_pid.get("pid") and _backends_waiting_on_a_lock() >= 1)
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [posting_pid["pid"]])
    poster.join(30)
    release.set()
    locker.join(30)
    assert "error" in outcome, outcome
    run = InstallmentPostingRun.objects.get()
    assert (run.chunks_done, run.posted, run.finished_at) == (1, 4, None)

    from loans.tasks import recover_stalled_posting_runs_task

    # Beat's next tick, before the run has been still for LOANS_POSTING_STALLED_AFTER_SECONDS: too early.
    assert recover_stalled_posting_runs_task.delay().get() == {"runs": [], "chunks_posted": 0, "finished": [], "budget_spent": False}

    with freeze_time(timezone.now() + timedelta(seconds=settings.LOANS_POSTING_STALLED_AFTER_SECONDS + 1)):
        report = recover_stalled_posting_runs_task.delay().get()  # a later tick (eager in tests)

    assert report == {"runs": [run.pk], "chunks_posted": 2, "finished": [run.pk], "budget_spent": False}
    run.refresh_from_db()
    assert (run.chunks_done, run.processed, run.posted, run.skipped, run.failed, run.locked) == (3, 9, 9, 0, 0, 0)
    assert run.finished_at is not None and run.recovered_at is not None
    assert list(PostingRunChunk.objects.filter(run=run).values_list("recovered", flat=True)) == [False, True, True]
    assert_each_installment_posted_once(9)


def test_a_run_that_is_slow_but_progressing_is_left_alone():
    loans(3)  # 9 due installments: 3 chunks of 3
    run, chunks = services.open_posting_run(**WEEK, chunk_size=3)
    services.post_installment_chunk(run_id=run.pk, chunk=chunks[0])  # its worker is busy with the others

    with freeze_time(timezone.now() + timedelta(minutes=4)):  # no chunk finished for 4 minutes: still within 5
        left_alone = services.recover_stalled_posting_runs(stalled_after=timedelta(minutes=5))

    assert left_alone == services.RecoveryResult()
    run.refresh_from_db()
    assert (run.chunks_done, run.posted, run.finished_at, run.recovered_at) == (1, 3, None, None)
    assert PostingRunChunk.objects.filter(run=run, finished_at__isnull=True).count() == 2

    services.post_installment_chunk(run_id=run.pk, chunk=chunks[1])  # its worker goes on
    services.post_installment_chunk(run_id=run.pk, chunk=chunks[2])

    run.refresh_from_db()
    assert (run.chunks_done, run.posted, run.finished_at is not None, run.recovered_at) == (3, 9, True, None)
    assert not PostingRunChunk.objects.filter(recovered=True).exists()
    assert_each_installment_posted_once(9)


def test_the_sweep_leaves_a_chunk_a_worker_holds_to_it_and_posts_the_others():
    """Stalled by the clock, but one chunk is in progress: a transaction holds its record."""
    loans(3)
    run, chunks = services.open_posting_run(**WEEK, chunk_size=3)
    held = PostingRunChunk.objects.get(run=run, first_id=chunks[1].first_id)
    holder = RowLock("loans_postingrunchunk", held.pk).start()
    try:
        first_tick = services.recover_stalled_posting_runs(stalled_after=timedelta(0))
    finally:
        holder.stop()

    assert (first_tick.runs, first_tick.chunks_posted, first_tick.finished) == ([run.pk], 2, [])
    held.refresh_from_db()
    assert (held.finished_at, held.posted) == (None, 0)

    next_tick = services.recover_stalled_posting_runs(stalled_after=timedelta(minutes=5))  # taken in hand: no wait

    assert (next_tick.runs, next_tick.chunks_posted, next_tick.finished) == ([run.pk], 1, [run.pk])
    run.refresh_from_db()
    assert (run.chunks_done, run.processed, run.posted, run.finished_at is not None) == (3, 9, 9, True)
    assert_each_installment_posted_once(9)


def test_each_tick_posts_a_bounded_number_of_chunks_and_the_next_goes_on():
    loans(3)
    run, _ = services.open_posting_run(**WEEK, chunk_size=2)  # 5 chunks

    first = services.recover_stalled_posting_runs(stalled_after=timedelta(0), max_chunks=2)
    second = services.recover_stalled_posting_runs(max_chunks=2)  # just progressed, but taken in hand
    third = services.recover_stalled_posting_runs(max_chunks=2)

    assert [(tick.chunks_posted, tick.budget_spent, tick.finished) for tick in (first, second, third)] == [
        (2, True, []), (2, True, []), (1, False, [run.pk]),
    ]
    assert PostingRunChunk.objects.filter(run=run, recovered=True).count() == 5
    assert_each_installment_posted_once(9)
    assert services.recover_stalled_posting_runs(stalled_after=timedelta(0)) == services.RecoveryResult()
    shown = client_for("Finance").get(f"/api/v1/loan-posting-runs/{run.pk}/").json()
    run.refresh_from_db()
    assert {key: shown[key] for key in ("finished", "posted", "chunks_recovered")} == {"finished": True, "posted": 9, "chunks_recovered": 5}
    assert shown["recovered_at"] == run.recovered_at.astimezone(timezone.get_current_timezone()).isoformat()


def test_a_run_whose_worker_died_before_finishing_it_is_finished_by_the_sweep(monkeypatch):
    """Its only chunk found a row locked and committed; the worker died before the final sweep."""
    from .test_posting_races import RowHolder

    (loan,) = loans(1)
    monkeypatch.setattr(services.posting, "SWEEP_LOCK_WAIT_MS", 200)

    def worker_dies(run, **kwargs):
        raise SystemExit("killed")

    with RowHolder(loan.installments.get(sequence=2).pk):
        monkeypatch.setattr(services.posting, "_finish_run_if_complete", worker_dies)
        with pytest.raises(SystemExit):
            services.post_weekly_installments(**WEEK)
    monkeypatch.undo()
    run = InstallmentPostingRun.objects.get()
    assert (run.chunks_done, run.chunks_total, run.posted, run.locked, run.finished_at) == (1, 1, 2, 1, None)

    tick = services.recover_stalled_posting_runs(stalled_after=timedelta(0))

    assert (tick.runs, tick.chunks_posted, tick.finished) == ([run.pk], 0, [run.pk])
    run.refresh_from_db()
    assert (run.processed, run.posted, run.locked, run.finished_at is not None, run.recovered_at is not None) == (3, 3, 0, True, True)
    assert_each_installment_posted_once(3)
