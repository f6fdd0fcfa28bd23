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
from loans import services
from loans.models import DriverLoan, Installment, InstallmentPostingRun, InstallmentStatus

from .conftest import week
from .factories import SUNDAY, LeaseFactory, StaffUserFactory, make_loan

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

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
    officer = StaffUserFactory()
    return [make_loan(principal="1200.00", weeks=4, rate="10", created_by=officer) for _ in range(count)]


def test_two_runs_at_once_post_each_installment_once():
    loans(8)  # 24 due installments

    first, second = run_together(
        lambda: services.post_weekly_installments(**WEEK, chunk_size=2),
        lambda: services.post_weekly_installments(**WEEK, chunk_size=3),
    )

    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    assert first.posted + second.posted == 24
    assert first.total_amount + second.total_amount == Installment.objects.filter(status="posted").aggregate(total=Sum("amount"))["total"]
    for result in (first, second):
        assert result.processed == result.posted + result.skipped + result.failed
        assert result.failed == 0
    assert_each_installment_posted_once(24)


def test_a_run_killed_mid_chunk_leaves_nothing_half_done_and_resumes():
    """Chunk 1 commits; chunk 2 is blocked inside its write and its session is killed."""
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

    assert "error" in outcome, outcome
    run = InstallmentPostingRun.objects.get()
    assert (run.chunks_total, run.chunks_done, run.posted, run.finished_at) == (3, 1, 4, None)
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
        return services.record_driver_payment(driver_id=loan.driver_id, amount=Decimal("400.00"), received_on=SUNDAY, idempotency_key=key)

    first, second = run_together(lambda: pay("a"), lambda: pay("b"))

    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    items = OpenItem.objects.filter(account=loan.receivable_account)
    billed = sum(item.amount for item in items)
    assert sum(item.amount - item.outstanding for item in items) == min(billed, Decimal("800.00"))
    assert first.payment.applied + first.payment.credit + second.payment.applied + second.payment.credit == Decimal("800.00")
    assert all(Decimal("0") <= item.outstanding <= item.amount for item in items)
