"""Stranded posting runs finish by themselves: a run whose database connection dropped, a run
whose worker died before finishing it, and what the sweep leaves alone. Transactional tests on
PostgreSQL: every chunk really commits. (A real worker killed mid-run and a flushed broker:
loanproject/e2e/test_queue.py.)"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from freezegun import freeze_time

from loans import selectors, services
from loans.models import Installment, PostingRunChunk

from .test_api import client_for
from .test_posting_races import WEEK, assert_each_installment_posted_once, kill_a_run_in_its_second_chunk, loans

pytestmark = pytest.mark.django_db(transaction=True)


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


# --- A run cut off in-process, a run still progressing ----------------------------------------------


def test_a_command_run_cut_off_by_a_dropped_connection_is_finished_by_the_sweep():
    """`post_installments` in-process: chunk 1 commits, chunk 2 is blocked inside its write and its
    database session is killed; the process is gone, and nobody runs the week again."""
    loans(3)  # 9 due installments, chunks of 4: [4, 4, 1]

    outcome = kill_a_run_in_its_second_chunk()

    assert "error" in outcome, outcome
    run = selectors.posting_runs().get()
    assert (run.chunks_done, run.posted, run.finished_at) == (1, 4, None)

    from loans.tasks import recover_stalled_posting_runs_task

    # Beat's next tick, before the run has been still for LOANS_POSTING_STALLED_AFTER_SECONDS: too early.
    assert recover_stalled_posting_runs_task.delay().get() == {
        "runs": [],
        "chunks_posted": 0,
        "finished": [],
        "budget_spent": False,
    }

    with freeze_time(timezone.now() + timedelta(seconds=settings.LOANS_POSTING_STALLED_AFTER_SECONDS + 1)):
        report = recover_stalled_posting_runs_task.delay().get()  # a later tick (eager in tests)

    assert report == {"runs": [run.pk], "chunks_posted": 2, "finished": [run.pk], "budget_spent": False}
    run = selectors.posting_runs().get(pk=run.pk)
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
    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.chunks_done, run.posted, run.finished_at, run.recovered_at) == (1, 3, None, None)
    assert PostingRunChunk.objects.filter(run=run, finished_at__isnull=True).count() == 2

    services.post_installment_chunk(run_id=run.pk, chunk=chunks[1])  # its worker goes on
    services.post_installment_chunk(run_id=run.pk, chunk=chunks[2])

    run = selectors.posting_runs().get(pk=run.pk)
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
    assert (held.finished_at, Installment.objects.filter(posting_run=run).count()) == (None, 6)

    next_tick = services.recover_stalled_posting_runs(stalled_after=timedelta(minutes=5))  # taken in hand: no wait

    assert (next_tick.runs, next_tick.chunks_posted, next_tick.finished) == ([run.pk], 1, [run.pk])
    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.chunks_done, run.processed, run.posted, run.finished_at is not None) == (3, 9, 9, True)
    assert_each_installment_posted_once(9)


def test_each_tick_posts_a_bounded_number_of_chunks_and_the_next_goes_on():
    loans(3)
    run, _ = services.open_posting_run(**WEEK, chunk_size=2)  # 5 chunks

    first = services.recover_stalled_posting_runs(stalled_after=timedelta(0), max_chunks=2)
    second = services.recover_stalled_posting_runs(max_chunks=2)  # just progressed, but taken in hand
    third = services.recover_stalled_posting_runs(max_chunks=2)

    assert [(tick.chunks_posted, tick.budget_spent, tick.finished) for tick in (first, second, third)] == [
        (2, True, []),
        (2, True, []),
        (1, False, [run.pk]),
    ]
    assert PostingRunChunk.objects.filter(run=run, recovered=True).count() == 5
    assert_each_installment_posted_once(9)
    assert services.recover_stalled_posting_runs(stalled_after=timedelta(0)) == services.RecoveryResult()
    shown = client_for("Finance").get(f"/api/v1/loan-posting-runs/{run.pk}/").json()
    run = selectors.posting_runs().get(pk=run.pk)
    assert {key: shown[key] for key in ("finished", "posted", "chunks_recovered")} == {
        "finished": True,
        "posted": 9,
        "chunks_recovered": 5,
    }
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
    run = selectors.posting_runs().get()
    assert (run.chunks_done, run.chunks_total, run.posted, run.locked, run.finished_at) == (1, 1, 2, 1, None)

    tick = services.recover_stalled_posting_runs(stalled_after=timedelta(0))

    assert (tick.runs, tick.chunks_posted, tick.finished) == ([run.pk], 0, [run.pk])
    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.processed, run.posted, run.locked, run.finished_at is not None, run.recovered_at is not None) == (
        3,
        3,
        0,
        True,
        True,
    )
    assert_each_installment_posted_once(3)
