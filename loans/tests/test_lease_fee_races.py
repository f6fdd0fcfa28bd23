"""Lease fees and imported charges exactly once on real PostgreSQL: two runs (or imports) at
once, a run killed in a lease-fees chunk and finished by the recovery sweep. Transactional tests:
every chunk really commits."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from freezegun import freeze_time

from applications.tests.test_concurrency import run_together
from conftest import wait_until
from ledger.models import JournalEntry, OpenItem, Posting
from loans import selectors, services
from loans.accounts import lease_income_account
from loans.models import Lease, LeaseCharge, PostingRunChunk

from .factories import LeaseFactory
from .test_posting_races import WEEK, _backends_waiting_on_a_lock, kill_a_run_in_its_second_chunk

pytestmark = pytest.mark.django_db(transaction=True)


def leases(count: int) -> list[Lease]:
    lease_income_account()  # opened on the first billing ever: two first billings would queue on it
    return [LeaseFactory(weekly_fee=Decimal("100.00") + index) for index in range(count)]


def assert_each_lease_billed_once(expected: int) -> None:
    charges = LeaseCharge.objects.filter(week_start=WEEK["period_start"])
    assert charges.count() == expected
    assert charges.values("lease").distinct().count() == expected
    entries = JournalEntry.objects.filter(source="loans.lease")
    assert entries.count() == expected
    assert set(entries.values_list("pk", flat=True)) == set(charges.values_list("entry_id", flat=True))
    assert OpenItem.objects.filter(entry__in=entries).count() == expected
    assert Posting.objects.filter(entry__in=entries).count() == 2 * expected
    billed = dict(charges.values_list("lease_id", "amount"))
    assert billed == dict(Lease.objects.filter(pk__in=billed).values_list("pk", "weekly_fee"))


def test_two_runs_at_once_bill_each_lease_once(monkeypatch):
    """Interleaved for sure: the first run holds its first booked chunk uncommitted until the
    second run is blocked on one of its entry keys."""
    leases(10)
    first_thread: dict[str, int] = {}
    real_bill = services.lease_fees.bill_lease_fees
    held = threading.Event()

    def bill_lease_fees(run, **target):
        booked = real_bill(run, **target)
        if threading.get_ident() == first_thread.get("id") and not held.is_set():
            held.set()
            wait_until(lambda: _backends_waiting_on_a_lock() >= 1)  # the second run waits on a key
        return booked

    def first():
        first_thread["id"] = threading.get_ident()
        return services.post_weekly_installments(**WEEK, chunk_size=3)

    def second():
        assert held.wait(30)
        return services.post_weekly_installments(**WEEK, chunk_size=4)

    monkeypatch.setattr(services.lease_fees, "bill_lease_fees", bill_lease_fees)
    first_result, second_result = run_together(first, second)

    assert not isinstance(first_result, Exception) and not isinstance(second_result, Exception), (
        first_result,
        second_result,
    )
    assert first_result.lease_fees >= 3 and first_result.lease_fees + second_result.lease_fees == 10
    assert first_result.lease_fee_amount + second_result.lease_fee_amount == Decimal("1045.00")
    assert LeaseCharge.objects.aggregate(total=Sum("amount"))["total"] == Decimal("1045.00")
    for result in (first_result, second_result):
        assert (result.lease_fees_failed, result.success, result.finished) == (0, True, True)
    assert_each_lease_billed_once(10)


def test_a_run_killed_in_a_lease_fees_chunk_leaves_nothing_half_done_and_the_sweep_finishes_it():
    """Chunk 1 (leases) commits; chunk 2 is blocked inside its write and its session is killed."""
    leases(9)  # chunks of 4: [4, 4, 1]

    outcome = kill_a_run_in_its_second_chunk()

    assert "error" in outcome, outcome
    run = selectors.posting_runs().get()
    assert (run.chunks_total, run.chunks_done, run.lease_fees, run.lease_fee_amount, run.finished_at) == (
        3,
        1,
        4,
        Decimal("406.00"),
        None,
    )
    assert_each_lease_billed_once(4)

    with freeze_time(timezone.now() + timedelta(seconds=settings.LOANS_POSTING_STALLED_AFTER_SECONDS + 1)):
        report = services.recover_stalled_posting_runs()

    assert (report.runs, report.chunks_posted, report.finished) == ([run.pk], 2, [run.pk])
    run = selectors.posting_runs().get(pk=run.pk)
    assert (run.chunks_done, run.lease_fees, run.lease_fee_amount, run.lease_fees_failed) == (
        3,
        9,
        Decimal("936.00"),
        0,
    )
    assert list(PostingRunChunk.objects.filter(run=run).values_list("recovered", flat=True)) == [False, True, True]
    assert_each_lease_billed_once(9)
    assert services.post_weekly_installments(**WEEK).lease_fees == 0


def test_two_imports_of_one_file_at_once_book_each_charge_once():
    """The second import's insert waits on the first's uncommitted rows (the unique (kind,
    external id)), then finds them duplicates."""
    import io

    from loans.models import ImportedCharge

    lease = LeaseFactory(vehicle_plate="T123456C")
    text = "external_id,date,plate,amount\n" + "".join(
        f"EZ-{index},2026-01-05,{'T123456C' if index % 4 else 'NOBODY'},{index}.50\n" for index in range(1, 41)
    )

    def run():
        return services.import_charges(
            kind="EZPASS", rows=services.read_csv("EZPASS", io.BytesIO(text.encode())), chunk_size=7
        )

    first, second = run_together(run, run)

    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    assert first.booked + second.booked == 30 and first.unmatched + second.unmatched == 10
    assert first.duplicates + second.duplicates == 40
    assert ImportedCharge.objects.count() == 40
    entries = JournalEntry.objects.filter(source="loans.charge")
    assert entries.count() == 30 == ImportedCharge.objects.filter(status="booked").count()
    assert OpenItem.objects.filter(entry__in=entries, account__party_id=str(lease.driver_id)).count() == 30
    assert OpenItem.objects.filter(entry__in=entries).aggregate(total=Sum("amount"))["total"] == sum(
        Decimal(f"{index}.50") for index in range(1, 41) if index % 4
    )
