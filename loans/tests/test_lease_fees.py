"""Weekly lease fees: billed by the weekly posting as one LEASE open item per lease and week,
exactly once, through the same runs and chunks as installments."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from ledger import services as ledger_services
from ledger.inputs import Leg
from ledger.models import Account, Category, JournalEntry, OpenItem, OpenItemStatus
from loans import selectors, services
from loans.accounts import cash_account, driver_party, lease_income_account
from loans.models import ChunkKind, LeaseCharge, LeaseFeeFailure, PostingRunChunk

from .conftest import week
from .factories import SUNDAY, LeaseFactory, make_loan

pytestmark = pytest.mark.django_db

WEEK = week(SUNDAY)


def lease_entries() -> int:
    return JournalEntry.objects.filter(source="loans.lease").count()


def test_a_run_bills_each_running_lease_once_as_a_lease_item():
    billed = LeaseFactory(weekly_fee=Decimal("350.00"))
    ending_midweek = LeaseFactory(weekly_fee=Decimal("125.50"), end_date=SUNDAY + timedelta(days=2))
    LeaseFactory(weekly_fee=Decimal("0.00"))  # no fee: nothing billed
    LeaseFactory(weekly_fee=Decimal("99.00"), start_date=date(2025, 1, 1), end_date=SUNDAY - timedelta(days=1))
    LeaseFactory(weekly_fee=Decimal("99.00"), start_date=SUNDAY + timedelta(days=7))

    result = services.post_weekly_installments(**WEEK)

    assert (result.lease_fees, result.lease_fee_amount, result.lease_fees_failed) == (2, Decimal("475.50"), 0)
    assert (result.posted, result.success, result.finished) == (0, True, True)
    charge = LeaseCharge.objects.get(lease=billed)
    assert (charge.week_start, charge.amount, charge.posting_run_id) == (SUNDAY, Decimal("350.00"), result.run_id)
    entry = charge.entry
    assert (entry.idempotency_key, entry.entry_date, entry.source, entry.description) == (
        f"loans.lease:{billed.pk}:2026-01-04",
        SUNDAY,
        "loans.lease",
        f"Lease {billed.lease_number} fee, week of 2026-01-04",
    )
    receivable = Account.objects.get(party_id=str(billed.driver_id), category=Category.LEASE)
    assert sorted(entry.postings.values_list("account__code", "debit", "credit")) == sorted(
        [(receivable.code, Decimal("350.00"), Decimal("0.00")), ("4400", Decimal("0.00"), Decimal("350.00"))]
    )
    item = OpenItem.objects.get(entry=entry)
    assert (item.account_id, item.amount, item.outstanding, item.due_date, item.reference) == (
        receivable.pk,
        Decimal("350.00"),
        Decimal("350.00"),
        SUNDAY,
        f"{billed.lease_number} 2026-01-04",
    )
    assert LeaseCharge.objects.get(lease=ending_midweek).amount == Decimal("125.50")
    assert lease_entries() == 2


def test_running_the_week_again_bills_nothing_twice_and_the_next_week_bills_again():
    lease = LeaseFactory(weekly_fee=Decimal("300.00"))
    services.post_weekly_installments(**WEEK)

    again = services.post_weekly_installments(**WEEK)
    preview = services.preview_posting(**WEEK)

    assert (again.lease_fees, again.lease_fee_amount, again.success) == (0, Decimal("0.00"), True)
    assert (preview.lease_fees, preview.lease_fee_amount) == (0, Decimal("0.00"))
    assert LeaseCharge.objects.filter(lease=lease).count() == 1 and lease_entries() == 1

    following = services.post_weekly_installments(**week(SUNDAY + timedelta(days=7)))

    assert (following.lease_fees, following.lease_fee_amount) == (1, Decimal("300.00"))
    assert list(
        LeaseCharge.objects.filter(lease=lease).order_by("week_start").values_list("week_start", flat=True)
    ) == [SUNDAY, SUNDAY + timedelta(days=7)]


def test_installments_and_lease_fees_are_posted_by_one_run_in_their_own_chunks():
    loan = make_loan(principal="1000.00", weeks=4)
    loan.lease.weekly_fee = Decimal("400.00")
    loan.lease.save(update_fields=["weekly_fee"])
    for fee in ("10.00", "20.00", "30.00", "40.00"):
        LeaseFactory(weekly_fee=Decimal(fee))
    preview = services.preview_posting(**WEEK)
    assert (preview.processed, preview.total_amount, preview.lease_fees, preview.lease_fee_amount) == (
        1,
        Decimal("250.00"),
        5,
        Decimal("500.00"),
    )

    result = services.post_weekly_installments(**WEEK, chunk_size=2)

    assert (result.processed, result.posted, result.total_amount) == (1, 1, Decimal("250.00"))
    assert (result.lease_fees, result.lease_fee_amount) == (5, Decimal("500.00"))
    chunks = PostingRunChunk.objects.filter(run_id=result.run_id)
    assert sorted(chunks.values_list("kind", "planned")) == [
        (ChunkKind.INSTALLMENTS, 1),
        (ChunkKind.LEASE_FEES, 1),
        (ChunkKind.LEASE_FEES, 2),
        (ChunkKind.LEASE_FEES, 2),
    ]
    assert selectors.posting_runs().get(pk=result.run_id).chunks_done == 4
    driver = driver_party(loan.driver_id)
    items = OpenItem.objects.filter(account__party_id=driver.id).order_by("account__category")
    assert list(items.values_list("account__category", "amount")) == [
        (Category.LEASE, Decimal("400.00")),
        (Category.LOANS, Decimal("250.00")),
    ]


def test_a_lease_fees_chunk_delivered_again_does_nothing():
    LeaseFactory(weekly_fee=Decimal("300.00"))
    run, chunks = services.open_posting_run(**WEEK)
    (chunk,) = chunks
    assert chunk.kind == ChunkKind.LEASE_FEES

    first = services.post_installment_chunk(run_id=run.pk, chunk=chunk)
    second = services.post_installment_chunk(run_id=run.pk, chunk=services.PostingChunk.from_dict(chunk.as_dict()))

    assert (first.posted, first.amount, second.already_done, second.posted) == (1, Decimal("300.00"), True, 0)
    assert lease_entries() == 1


def test_a_run_limited_to_some_loans_bills_no_lease_fees():
    loan = make_loan(weeks=4)
    LeaseFactory(weekly_fee=Decimal("300.00"))

    result = services.post_weekly_installments(**WEEK, loan_ids=[loan.pk])

    assert (result.posted, result.lease_fees) == (1, 0)
    assert not LeaseCharge.objects.exists()


def test_the_database_refuses_a_second_charge_for_a_lease_week_and_a_negative_fee():
    lease = LeaseFactory(weekly_fee=Decimal("300.00"))
    result = services.post_weekly_installments(**WEEK)
    charge = LeaseCharge.objects.get()
    other_entry = ledger_services.post_entry(
        idempotency_key="manual-1",
        entry_date=SUNDAY,
        description="another entry",
        source="ledger.manual",
        legs=[
            Leg(account=cash_account(), debit=Decimal("1.00")),
            Leg(account=lease_income_account(), credit=Decimal("1.00")),
        ],
    )

    with pytest.raises(IntegrityError, match="lease_charge_once_per_week"), transaction.atomic():
        LeaseCharge.objects.create(
            lease=lease, week_start=SUNDAY, amount=Decimal("1.00"), entry=other_entry, posting_run_id=result.run_id
        )
    with (
        pytest.raises(IntegrityError, match="journal_entry_idempotency_key_unique"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ledger_journalentry (idempotency_key, entry_date, description, source, created_at)"
            " VALUES (%s, %s, 'twice', 'loans.lease', now())",
            [f"loans.lease:{lease.pk}:2026-01-04", SUNDAY],
        )
    with pytest.raises(IntegrityError, match="lease_weekly_fee_not_negative"), transaction.atomic():
        type(lease).objects.filter(pk=lease.pk).update(weekly_fee=Decimal("-1.00"))
    with pytest.raises(IntegrityError, match="lease_charge_week_starts_sunday"), transaction.atomic():
        LeaseCharge.objects.filter(pk=charge.pk).update(week_start=SUNDAY + timedelta(days=1))

    assert LeaseCharge.objects.count() == 1 and lease_entries() == 1
    lease.refresh_from_db()
    assert lease.weekly_fee == Decimal("300.00")


def test_a_lease_that_cannot_be_billed_is_reported_and_billed_by_a_later_run():
    good, bad = LeaseFactory(weekly_fee=Decimal("100.00")), LeaseFactory(weekly_fee=Decimal("200.00"))
    closed = ledger_services.open_party_account(party=driver_party(bad.driver_id), category=Category.LEASE)
    ledger_services.set_account_active(account_id=closed.pk, is_active=False)

    result = services.post_weekly_installments(**WEEK)

    assert (result.lease_fees, result.lease_fee_amount, result.lease_fees_failed, result.success) == (
        1,
        Decimal("100.00"),
        1,
        False,
    )
    failure = LeaseFeeFailure.objects.get()
    assert failure.lease_id == bad.pk and "closed to new postings" in failure.message
    assert list(LeaseCharge.objects.values_list("lease_id", flat=True)) == [good.pk]

    ledger_services.set_account_active(account_id=closed.pk, is_active=True)
    again = services.post_weekly_installments(**WEEK)

    assert (again.lease_fees, again.lease_fee_amount, again.success) == (1, Decimal("200.00"), True)
    assert LeaseCharge.objects.count() == 2 and lease_entries() == 2


def test_credit_the_driver_holds_pays_the_new_lease_fee():
    lease = LeaseFactory(weekly_fee=Decimal("300.00"))
    services.record_driver_payment(
        driver_id=lease.driver_id, amount=Decimal("500.00"), received_on=SUNDAY, idempotency_key="bank-1"
    )

    services.post_weekly_installments(**WEEK)

    item = OpenItem.objects.get(entry__source="loans.lease")
    assert (item.outstanding, item.status) == (Decimal("0.00"), OpenItemStatus.CLOSED)
    credit = Account.objects.get(party_id=str(lease.driver_id), category="", type="liability")
    from ledger.selectors import credit_balance

    assert credit_balance(account=credit) == Decimal("200.00")
