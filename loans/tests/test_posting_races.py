"""Exactly once on real PostgreSQL: two runs at once, a run killed mid-chunk, loan numbers and
payments under concurrency. Transactional tests: every chunk really commits."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Sum

from applications.tests.test_concurrency import run_together
from conftest import wait_until
from ledger.models import JournalEntry, OpenItem, Posting
from loans import selectors, services
from loans.models import DriverLoan, Installment, InstallmentStatus, PostingFailure, PostingRunChunk

from .conftest import week
from .factories import SUNDAY, LeaseFactory, StaffUserFactory, make_loan

pytestmark = pytest.mark.django_db(transaction=True)

WEEK = week(SUNDAY + timedelta(weeks=2))  # three installments due per loan


def assert_each_installment_posted_once(expected: int) -> None:
    posted = Installment.objects.filter(status=InstallmentStatus.POSTED)
    assert posted.count() == expected
    assert posted.values("posted_entry").distinct().count() == expected
    entries = JournalEntry.objects.filter(source="loans.installment")
    assert entries.count() == expected
    assert OpenItem.objects.filter(entry__in=entries).count() == expected
    assert set(entries.values_list("pk", flat=True)) == set(posted.values_list("posted_entry", flat=True))
    # every entry committed whole: debit leg plus its credits, and balanced (checked by the trigger)
    assert Posting.objects.filter(entry__in=entries).count() == 3 * expected


def loans(count: int) -> list[DriverLoan]:
    from loans.accounts import interest_income_account

    interest_income_account()  # opened on the first posting ever: two first postings would queue on it
    officer = StaffUserFactory()
    return [make_loan(principal="1200.00", weeks=4, rate="10", created_by=officer) for _ in range(count)]


def test_two_runs_at_once_post_each_installment_once(monkeypatch):
    """Interleaved for sure: the first run holds its first claimed rows until the second run has
    posted a chunk past them (skipping them as locked)."""
    loans(8)  # 24 due installments
    first_claimed, second_posted_a_chunk = threading.Event(), threading.Event()
    first_thread: dict[str, int] = {}
    real_post_claimed = services.claims.post_claimed

    def post_claimed(run, **target):
        booked = real_post_claimed(run, **target)
        if threading.get_ident() == first_thread.get("id") and not first_claimed.is_set():
            first_claimed.set()
            assert second_posted_a_chunk.wait(30)  # the claimed rows stay locked meanwhile
        return booked

    def first():
        first_thread["id"] = threading.get_ident()
        return services.post_weekly_installments(**WEEK, chunk_size=2)

    def second_progress(done: int, total: int) -> None:
        if done == 0:
            assert first_claimed.wait(30)
        else:
            second_posted_a_chunk.set()

    monkeypatch.setattr(services.claims, "post_claimed", post_claimed)
    first_result, second_result = run_together(
        first, lambda: services.post_weekly_installments(**WEEK, chunk_size=3, on_progress=second_progress)
    )

    assert not isinstance(first_result, Exception) and not isinstance(second_result, Exception), (
        first_result,
        second_result,
    )
    assert first_result.posted >= 2 and second_result.posted >= 1, (first_result, second_result)
    assert second_result.skipped >= 2  # the first run's rows, locked at its first claim, then posted by it
    assert first_result.posted + second_result.posted == 24
    assert (
        first_result.total_amount + second_result.total_amount
        == Installment.objects.filter(status="posted").aggregate(total=Sum("amount"))["total"]
    )
    for result in (first_result, second_result):
        assert result.processed == result.posted + result.skipped + result.failed + result.locked
        assert (result.failed, result.locked, result.finished) == (0, 0, True)
    assert_each_installment_posted_once(24)


def test_a_chunk_delivered_twice_at_once_is_posted_and_counted_once(monkeypatch):
    """The second delivery waits on the chunk's record until the first commits, then does nothing."""
    loans(2)  # 6 due installments
    run, (chunk,) = services.open_posting_run(**WEEK, chunk_size=10)
    claimed_by: list[int] = []
    real_post_claimed = services.claims.post_claimed

    def post_claimed(run, **target):
        booked = real_post_claimed(run, **target)
        claimed_by.append(threading.get_ident())
        wait_until(lambda: _backends_waiting_on_a_lock() >= 1)  # the twin is blocked on this chunk
        return booked

    monkeypatch.setattr(services.claims, "post_claimed", post_claimed)
    outcomes = run_together(*[lambda: services.post_installment_chunk(run_id=run.pk, chunk=chunk)] * 2)

    assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    assert sorted((outcome.already_done, outcome.posted) for outcome in outcomes) == [(False, 6), (True, 0)]
    assert len(claimed_by) == 1
    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.chunks_done, run.processed, run.posted, run.skipped, run.locked, run.finished_at is not None) == (
        1,
        6,
        6,
        0,
        0,
        True,
    )
    assert_each_installment_posted_once(6)


def _backends_waiting_on_a_lock() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


# --- Rows another transaction holds ------------------------------------------------------------------


class RowHolder:
    """Another transaction holding an installment's row lock until told to roll back."""

    def __init__(self, installment_id: int) -> None:
        self.taken, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(installment_id,))

    def _hold(self, installment_id: int) -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT id FROM loans_installment WHERE id = %s FOR UPDATE", [installment_id])
                self.taken.set()
                self.release.wait(30)
                cursor.execute("ROLLBACK")  # the other transaction crashed: nothing it did stays
        finally:
            connections["default"].close()

    def __enter__(self) -> RowHolder:
        self.thread.start()
        assert self.taken.wait(30)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(30)


def test_rows_held_past_the_final_sweep_are_reported_locked_and_the_next_run_posts_them(monkeypatch):
    monkeypatch.setattr(services.posting, "SWEEP_LOCK_WAIT_MS", 200)
    (loan,) = loans(1)
    held = loan.installments.get(sequence=2)

    with RowHolder(held.pk):
        result = services.post_weekly_installments(**WEEK)

    assert (result.processed, result.posted, result.skipped, result.failed, result.locked) == (3, 2, 0, 0, 1)
    assert (result.finished, result.success) == (True, False)
    assert list(PostingFailure.objects.filter(run_id=result.run_id).values_list("installment_id", "locked")) == [
        (held.pk, True)
    ]
    held.refresh_from_db()
    assert held.status == InstallmentStatus.SCHEDULED

    again = services.post_weekly_installments(**WEEK)

    assert (again.posted, again.locked, again.success) == (1, 0, True)
    assert_each_installment_posted_once(3)


def test_rows_released_while_the_final_sweep_waits_are_posted_by_it():
    (loan,) = loans(1)
    held = loan.installments.get(sequence=2)
    outcome: dict = {}

    def post() -> None:
        try:
            outcome["result"] = services.post_weekly_installments(**WEEK)
        finally:
            connections["default"].close()

    with RowHolder(held.pk):
        poster = threading.Thread(target=post)
        poster.start()
        wait_until(lambda: _backends_waiting_on_a_lock() >= 1)  # the sweep waits for the held row
    poster.join(30)

    result = outcome["result"]
    assert (result.processed, result.posted, result.skipped, result.locked, result.success) == (3, 3, 0, 0, True)
    assert not PostingFailure.objects.exists()
    assert_each_installment_posted_once(3)


def test_the_sweep_posts_the_locked_rows_of_several_chunks_at_once():
    (loan,) = loans(1)
    first, third = loan.installments.get(sequence=1), loan.installments.get(sequence=3)
    outcome: dict = {}

    def post() -> None:
        try:
            outcome["result"] = services.post_weekly_installments(**WEEK, chunk_size=1)
        finally:
            connections["default"].close()

    with RowHolder(first.pk), RowHolder(third.pk):
        poster = threading.Thread(target=post)
        poster.start()
        wait_until(lambda: _backends_waiting_on_a_lock() >= 1)  # one sweep claim waits for both rows
    poster.join(30)

    result = outcome["result"]
    assert (result.processed, result.posted, result.skipped, result.locked, result.success) == (3, 3, 0, 0, True)
    posted = loan.installments.filter(status=InstallmentStatus.POSTED, posting_run_id=result.run_id).order_by("pk")
    assert list(
        PostingRunChunk.objects.filter(run_id=result.run_id, finished_at__isnull=False).values_list(
            "first_id", flat=True
        )
    ) == [i.pk for i in posted]
    assert not PostingFailure.objects.exists()
    assert_each_installment_posted_once(3)


def test_rows_another_run_posts_while_they_are_locked_count_as_skipped(monkeypatch):
    """Run B holds one loan's rows in its chunk; run A, meanwhile, finds them locked, and its
    sweep then finds them posted by B."""
    made = loans(3)
    b_claimed, a_waits = threading.Event(), threading.Event()
    b_thread: dict[str, int] = {}
    real_post_claimed = services.claims.post_claimed

    def post_claimed(run, **target):
        booked = real_post_claimed(run, **target)
        if threading.get_ident() == b_thread.get("id") and not b_claimed.is_set():
            b_claimed.set()
            assert a_waits.wait(30)
        return booked

    def run_b():
        b_thread["id"] = threading.get_ident()
        try:
            return services.post_weekly_installments(**WEEK, loan_ids=[made[0].pk])
        finally:
            connections["default"].close()

    monkeypatch.setattr(services.claims, "post_claimed", post_claimed)
    b_outcome: dict = {}
    thread = threading.Thread(target=lambda: b_outcome.update(result=run_b()))
    thread.start()
    assert b_claimed.wait(30)
    a_outcome: dict = {}

    def run_a():
        try:
            a_outcome["result"] = services.post_weekly_installments(**WEEK)
        finally:
            connections["default"].close()

    a_thread = threading.Thread(target=run_a)
    a_thread.start()
    wait_until(lambda: _backends_waiting_on_a_lock() >= 1)  # A's sweep waits for B's rows
    a_waits.set()
    thread.join(30)
    a_thread.join(30)

    a, b = a_outcome["result"], b_outcome["result"]
    assert (b.posted, b.locked) == (3, 0)
    assert (a.processed, a.posted, a.skipped, a.locked, a.success) == (9, 6, 3, 0, True)
    assert_each_installment_posted_once(9)


def kill_a_run_in_its_second_chunk() -> dict:
    """Post the week in a thread (chunks of 4): chunk 1 commits; chunk 2 is blocked inside its write
    (another session holds the open items' table) and its database session is killed. Returns what
    the posting thread ended with ("error": the killed session)."""
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
            posting_pid["pid"] = connection.connection.info.backend_pid
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
    wait_until(lambda: posting_pid.get("pid") and _waits_on_a_lock(posting_pid["pid"]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [posting_pid["pid"]])
    poster.join(30)
    release.set()
    locker.join(30)

    return outcome


def test_a_run_killed_mid_chunk_leaves_nothing_half_done_and_resumes():
    """Chunk 1 commits; chunk 2 is blocked inside its write and its session is killed."""
    loans(3)  # 9 due installments, chunks of 4: [4, 4, 1]

    outcome = kill_a_run_in_its_second_chunk()

    assert "error" in outcome, outcome
    run = selectors.posting_runs().get()
    assert (run.chunks_total, run.chunks_done, run.processed, run.posted, run.finished_at) == (3, 1, 4, 4, None)
    assert_each_installment_posted_once(4)

    resumed = services.post_weekly_installments(**WEEK, chunk_size=4)

    assert (resumed.processed, resumed.posted, resumed.failed) == (5, 5, 0)
    assert_each_installment_posted_once(9)


def _waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0] == "Lock")


def test_two_loans_booked_at_once_get_consecutive_numbers():
    officer = StaffUserFactory()
    leases = [LeaseFactory(), LeaseFactory()]

    results = run_together(*[lambda lease=lease: make_loan(lease=lease, created_by=officer) for lease in leases])

    assert not any(isinstance(result, Exception) for result in results), results
    year = results[0].loan_number[3:7]
    assert sorted(loan.loan_number for loan in results) == [f"DL-{year}-0001", f"DL-{year}-0002"]


def test_two_payments_of_one_driver_at_once_never_overpay_an_item():
    (loan,) = loans(1)
    services.post_weekly_installments(**WEEK)  # three open items of 309.38 or so

    def pay(key):
        return services.record_driver_payment(
            driver_id=loan.driver_id, amount=Decimal("400.00"), received_on=SUNDAY, idempotency_key=key
        )

    first, second = run_together(lambda: pay("a"), lambda: pay("b"))

    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    items = OpenItem.objects.filter(account=loan.receivable_account)
    billed = sum(item.amount for item in items)
    assert sum(item.amount - item.outstanding for item in items) == min(billed, Decimal("800.00"))
    assert first.payment.applied + first.payment.credit + second.payment.applied + second.payment.credit == Decimal(
        "800.00"
    )
    assert all(Decimal("0") <= item.outstanding <= item.amount for item in items)
