"""The weekly posting: one balanced entry and one open item per due installment, exactly once."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from ledger.models import Account, JournalEntry, OpenItem, OpenItemStatus, Posting
from loans import selectors, services
from loans.accounts import driver_party
from loans.models import (
    DriverLoan,
    Installment,
    InstallmentPostingRun,
    InstallmentStatus,
    LoanStatus,
    PostingFailure,
    PostingRunChunk,
)

from .conftest import week
from .factories import SUNDAY, StaffUserFactory, make_loan

pytestmark = pytest.mark.django_db


def installment_entries() -> int:
    return JournalEntry.objects.filter(source="loans.installment").count()


def test_posting_a_week_books_each_due_installment_once_with_its_item():
    loan = make_loan(principal="1500.00", weeks=10, rate="10")
    first = loan.installments.get(sequence=1)

    result = services.post_weekly_installments(**week(SUNDAY))

    assert (result.processed, result.posted, result.skipped, result.failed, result.total_amount) == (
        1,
        1,
        0,
        0,
        Decimal("151.59"),
    )
    assert result.success and result.finished and result.errors == []
    first.refresh_from_db()
    assert first.status == InstallmentStatus.POSTED and first.posted_at is not None
    entry = first.posted_entry
    assert (entry.idempotency_key, entry.entry_date, entry.source, entry.description) == (
        f"loans.installment:{first.pk}:1",
        SUNDAY,
        "loans.installment",
        f"{loan.loan_number} installment 1/10",
    )
    assert sorted(entry.postings.values_list("account__code", "debit", "credit")) == [
        ("1300", Decimal("0.00"), Decimal("148.71")),
        ("4100", Decimal("0.00"), Decimal("2.88")),
        (f"loans.driver:{loan.driver_id}:LOANS:USD", Decimal("151.59"), Decimal("0.00")),
    ]
    item = OpenItem.objects.get(entry=entry)
    assert (item.account_id, item.amount, item.outstanding, item.due_date, item.reference) == (
        loan.receivable_account_id,
        Decimal("151.59"),
        Decimal("151.59"),
        SUNDAY,
        f"{loan.loan_number} #1",
    )
    assert loan.installments.filter(status=InstallmentStatus.SCHEDULED).count() == 9


def test_a_zero_interest_installment_has_two_legs():
    loan = make_loan(principal="100.00", weeks=4, rate="0")

    services.post_weekly_installments(**week(SUNDAY))

    entry = loan.installments.get(sequence=1).posted_entry
    assert sorted(entry.postings.values_list("account__code", "debit", "credit")) == [
        ("1300", Decimal("0.00"), Decimal("25.00")),
        (f"loans.driver:{loan.driver_id}:LOANS:USD", Decimal("25.00"), Decimal("0.00")),
    ]


def test_missed_weeks_are_caught_up_and_future_weeks_wait():
    loan = make_loan(principal="400.00", weeks=4)

    result = services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))

    assert (result.posted, result.total_amount) == (3, Decimal("300.00"))
    assert list(loan.installments.order_by("sequence").values_list("status", flat=True)) == ["posted"] * 3 + [
        "scheduled"
    ]
    assert list(OpenItem.objects.order_by("due_date").values_list("due_date", flat=True)) == [
        date(2026, 1, 4),
        date(2026, 1, 11),
        date(2026, 1, 18),
    ]


def test_running_the_same_week_twice_posts_nothing_twice():
    make_loan(principal="400.00", weeks=4)
    make_loan(principal="800.00", weeks=4)
    first = services.post_weekly_installments(**week(SUNDAY))
    legs_before = Posting.objects.count()

    second = services.post_weekly_installments(**week(SUNDAY))

    assert (first.posted, first.total_amount) == (2, Decimal("300.00"))
    assert (second.processed, second.posted, second.skipped, second.total_amount) == (0, 0, 0, Decimal("0.00"))
    assert installment_entries() == 2
    assert Posting.objects.count() == legs_before
    assert InstallmentPostingRun.objects.count() == 2


def test_only_active_loans_are_posted():
    active = make_loan(weeks=4)
    cancelled = make_loan(weeks=4)
    services.cancel_loan(loan_id=cancelled.pk, reason="driver changed plans", actor=StaffUserFactory())

    result = services.post_weekly_installments(**week(SUNDAY))

    assert result.posted == 1
    assert (
        JournalEntry.objects.filter(source="loans.installment").get().pk
        == active.installments.get(sequence=1).posted_entry_id
    )


def test_a_run_is_cut_into_chunks_and_recorded():
    user = StaffUserFactory(username="fiona")
    for _ in range(5):
        make_loan(weeks=2)

    result = services.post_weekly_installments(**week(SUNDAY), chunk_size=2, started_by=user)

    run = selectors.posting_runs().get()
    assert (run.chunk_size, run.chunks_total, run.chunks_done, run.started_by, run.finished_at is not None) == (
        2,
        3,
        3,
        user,
        True,
    )
    assert (run.processed, run.posted, run.skipped, run.total_amount) == (5, 5, 0, Decimal("2500.00"))
    assert result.run_id == run.pk
    assert set(Installment.objects.filter(status="posted").values_list("posting_run", flat=True)) == {run.pk}
    assert installment_entries() == 5


def test_chunk_plans_cover_every_due_installment_exactly_once():
    for weeks in (1, 2, 3, 5, 8):
        make_loan(weeks=weeks)
    due = services.posting.due_installments(period_end=SUNDAY + timedelta(weeks=3, days=6))

    for size in (1, 2, 3, 7, 100):
        chunks = services.posting.plan_chunks(period_end=SUNDAY + timedelta(weeks=3, days=6), chunk_size=size)
        covered = [pk for chunk in chunks for pk in due.filter(chunk.bounds()).values_list("pk", flat=True)]
        assert sorted(covered) == sorted(due.values_list("pk", flat=True))
        assert [chunk.planned for chunk in chunks] == [len(due.filter(chunk.bounds())) for chunk in chunks]


def test_a_bad_installment_is_reported_and_the_rest_is_posted():
    good = make_loan(weeks=2)
    bad = make_loan(weeks=2)
    ledger_services.set_account_active(account_id=bad.receivable_account_id, is_active=False)

    result = services.post_weekly_installments(**week(SUNDAY), chunk_size=10)

    assert (result.processed, result.posted, result.failed, result.skipped) == (2, 1, 1, 0)
    assert not result.success
    (error,) = result.errors
    assert (error["loan_number"], error["sequence"]) == (bad.loan_number, 1)
    assert "closed to new postings" in error["error"]
    assert good.installments.get(sequence=1).status == InstallmentStatus.POSTED
    assert bad.installments.get(sequence=1).status == InstallmentStatus.SCHEDULED

    ledger_services.set_account_active(account_id=bad.receivable_account_id, is_active=True)
    retry = services.post_weekly_installments(**week(SUNDAY))

    assert (retry.posted, retry.failed) == (1, 0)
    assert installment_entries() == 2


def test_a_dry_run_counts_and_writes_nothing():
    make_loan(principal="1500.00", weeks=10, rate="10")
    make_loan(principal="400.00", weeks=4)

    preview = services.preview_posting(**week(SUNDAY + timedelta(weeks=1)))

    assert (preview.dry_run, preview.processed, preview.total_amount) == (True, 4, Decimal("503.18"))
    assert installment_entries() == 0
    assert InstallmentPostingRun.objects.count() == 0


@pytest.mark.parametrize(
    "start, end, field",
    [(date(2026, 1, 5), date(2026, 1, 11), "period_start"), (SUNDAY, date(2026, 1, 11), "period_end")],
)
def test_a_period_is_a_sunday_to_saturday_week(start, end, field):
    make_loan(weeks=2)

    with pytest.raises(ValidationError) as refused:
        services.post_weekly_installments(period_start=start, period_end=end)

    assert field in refused.value.message_dict
    assert (installment_entries(), InstallmentPostingRun.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    "start, end",
    [
        (date(1, 1, 7), date(1, 1, 13)),
        (date(1969, 12, 28), date(1970, 1, 3)),
        (date(2201, 1, 4), date(2201, 1, 10)),
        (date(9999, 12, 26), date.max),
    ],
)
def test_a_period_out_of_range_is_refused_and_nothing_is_started(start, end):
    from loanproject.core.errors import DomainError

    make_loan(weeks=2)

    for post in (services.preview_posting, services.post_weekly_installments):
        with pytest.raises(DomainError) as refused:
            post(period_start=start, period_end=end)
        assert refused.value.code == "date_out_of_range"

    assert (installment_entries(), InstallmentPostingRun.objects.count()) == (0, 0)


def test_the_week_of_a_day_out_of_range_is_a_domain_error():
    from loanproject.core.errors import DomainError
    from loans.periods import week_containing

    with pytest.raises(DomainError, match=r"Enter a date between 1970-01-01 and 2200-12-31, got 0001-01-01\."):
        week_containing(date.min)
    assert week_containing(date(2200, 12, 31)) == (date(2200, 12, 28), date(2201, 1, 3))


def test_a_reversed_posting_is_posted_again_with_a_new_key():
    loan = make_loan(principal="200.00", weeks=2)
    services.post_weekly_installments(**week(SUNDAY))
    installment = loan.installments.get(sequence=1)
    original_entry = installment.posted_entry_id

    services.reverse_installment_posting(
        installment_id=installment.pk, reason="billed in error", actor=StaffUserFactory()
    )

    installment.refresh_from_db()
    assert (installment.status, installment.posted_entry, installment.posting_attempt) == (
        InstallmentStatus.SCHEDULED,
        None,
        2,
    )
    assert OpenItem.objects.get(entry_id=original_entry).status == OpenItemStatus.CLOSED
    assert ledger_selectors.party_balance(party=driver_party(loan.driver_id)) == Decimal("0.00")

    services.post_weekly_installments(**week(SUNDAY))

    installment.refresh_from_db()
    assert installment.posted_entry.idempotency_key == f"loans.installment:{installment.pk}:2"
    assert ledger_selectors.party_balance(party=driver_party(loan.driver_id)) == Decimal("100.00")
    assert JournalEntry.objects.filter(source__in=["loans.installment", "ledger.reversal"]).count() == 3


def test_the_database_refuses_a_second_entry_for_an_installment():
    from django.db import IntegrityError, transaction

    loan = make_loan(weeks=2)
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))
    first, second = loan.installments.order_by("sequence")

    with pytest.raises(IntegrityError, match="installment_entry_unique"), transaction.atomic():
        Installment.objects.filter(pk=second.pk).update(posted_entry=first.posted_entry_id)
    with pytest.raises(IntegrityError, match="installment_posted_iff_entry"), transaction.atomic():
        Installment.objects.filter(pk=first.pk).update(posted_entry=None)


def test_posting_leaves_the_book_balanced():
    for rate in ("0", "7.5", "20"):
        make_loan(principal="1234.56", weeks=7, rate=rate)

    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=6)))

    trial = ledger_selectors.trial_balance()
    assert trial.balances
    # Every installment billed: nothing of the principal is left unbilled, all of it is owed.
    assert ledger_selectors.account_balance(account=Account.objects.get(code="1300")) == Decimal("0.00")
    owed = sum(ledger_selectors.party_balance(party=driver_party(loan.driver_id)) for loan in DriverLoan.objects.all())
    assert owed == Installment.objects.aggregate(total=Sum("amount"))["total"]


# --- Chunks delivered again (Celery acks late) ----------------------------------------------------


def run_counts(run_id: int) -> tuple:
    run = selectors.posting_runs().get(pk=run_id)
    return (
        run.chunks_done,
        run.processed,
        run.posted,
        run.skipped,
        run.failed,
        run.locked,
        run.total_amount,
        run.finished_at is not None,
    )


def test_a_chunk_delivered_twice_posts_and_counts_once():
    for _ in range(3):
        make_loan(principal="200.00", weeks=2)  # one 100.00 installment due per loan this week
    run, chunks = services.open_posting_run(**week(SUNDAY), chunk_size=2)

    first = services.post_installment_chunk(run_id=run.pk, chunk=chunks[0])
    again = services.post_installment_chunk(run_id=run.pk, chunk=chunks[0])

    assert (first.posted, first.processed, first.already_done) == (2, 2, False)
    assert (again.posted, again.processed, again.already_done) == (0, 0, True)
    assert run_counts(run.pk) == (1, 2, 2, 0, 0, 0, Decimal("200.00"), False)

    services.post_installment_chunk(run_id=run.pk, chunk=chunks[1])

    assert run_counts(run.pk) == (2, 3, 3, 0, 0, 0, Decimal("300.00"), True)
    assert installment_entries() == 3
    records = PostingRunChunk.objects.filter(run=run).values_list("first_id", "planned", "finished_at")
    assert [(first_id, planned, finished is not None) for first_id, planned, finished in records] == [
        (chunks[0].first_id, 2, True),
        (chunks[1].first_id, 1, True),
    ]


def test_the_last_chunk_delivered_again_after_the_run_finished_changes_nothing():
    make_loan(principal="200.00", weeks=2)
    run, (chunk,) = services.open_posting_run(**week(SUNDAY))
    services.post_installment_chunk(run_id=run.pk, chunk=chunk)
    finished_at = InstallmentPostingRun.objects.get(pk=run.pk).finished_at

    again = services.post_installment_chunk(run_id=run.pk, chunk=chunk)

    assert again.already_done
    assert run_counts(run.pk) == (1, 1, 1, 0, 0, 0, Decimal("100.00"), True)
    assert InstallmentPostingRun.objects.get(pk=run.pk).finished_at == finished_at


def test_the_one_by_one_fallback_counts_each_posting_with_it_so_a_crash_loses_no_count(monkeypatch):
    """A bad installment sends the chunk one by one; the worker dies after two postings."""
    good = [make_loan(principal="200.00", weeks=2)]
    bad = make_loan(principal="200.00", weeks=2)  # the second in due order
    good += [make_loan(principal="200.00", weeks=2) for _ in range(2)]
    ledger_services.set_account_active(account_id=bad.receivable_account_id, is_active=False)
    run, (chunk,) = services.open_posting_run(**week(SUNDAY), chunk_size=10)
    real_post_claimed, calls = services.claims.post_claimed, []

    def dies_on_the_fourth_single_posting(run, **target):
        if target.get("installment_ids"):
            calls.append(target["installment_ids"])
            if len(calls) == 4:
                raise RuntimeError("worker lost")
        return real_post_claimed(run, **target)

    monkeypatch.setattr(services.claims, "post_claimed", dies_on_the_fourth_single_posting)
    with pytest.raises(RuntimeError, match="worker lost"):
        services.post_installment_chunk(run_id=run.pk, chunk=chunk)

    # Three installments were handled one by one (good, bad, good) before the crash.
    posted_now = Installment.objects.filter(status=InstallmentStatus.POSTED).count()
    assert posted_now == 2
    assert run_counts(run.pk) == (0, 3, 2, 0, 1, 0, Decimal("200.00"), False)

    monkeypatch.setattr(services.claims, "post_claimed", real_post_claimed)
    again = services.post_installment_chunk(run_id=run.pk, chunk=chunk)  # the redelivery

    assert (again.posted, again.failed) == (1, 0)  # the bad one was counted by the first delivery
    assert run_counts(run.pk) == (1, 4, 3, 0, 1, 0, Decimal("300.00"), True)
    assert [error["installment_id"] for error in selectors.posting_runs().get(pk=run.pk).errors] == [
        bad.installments.get(sequence=1).pk
    ]
    assert all(loan.installments.get(sequence=1).status == InstallmentStatus.POSTED for loan in good)


def test_an_installment_that_failed_before_a_crash_and_posts_on_redelivery_is_not_counted_failed(monkeypatch):
    """The bad account is fixed between the crash and the redelivery: the once-failed installment
    is posted by the redelivery and counted posted, not posted and failed."""
    good = make_loan(principal="200.00", weeks=2)
    bad = make_loan(principal="200.00", weeks=2)
    ledger_services.set_account_active(account_id=bad.receivable_account_id, is_active=False)
    run, (chunk,) = services.open_posting_run(**week(SUNDAY), chunk_size=10)

    def dies_before_completing(*args, **kwargs):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(services.posting, "_complete_chunk", dies_before_completing)
    with pytest.raises(RuntimeError, match="worker lost"):
        services.post_installment_chunk(run_id=run.pk, chunk=chunk)
    monkeypatch.undo()
    assert list(PostingFailure.objects.values_list("installment_id", "locked")) == [
        (bad.installments.get(sequence=1).pk, False)
    ]

    ledger_services.set_account_active(account_id=bad.receivable_account_id, is_active=True)
    services.post_installment_chunk(run_id=run.pk, chunk=chunk)  # the redelivery

    assert not PostingFailure.objects.exists()
    assert run_counts(run.pk)[:6] == (1, 2, 2, 0, 0, 0)
    assert {loan.installments.get(sequence=1).status for loan in (good, bad)} == {InstallmentStatus.POSTED}


def test_a_chunk_and_a_failure_are_recorded_once_per_run_in_the_database():
    from django.db import IntegrityError, transaction

    loan = make_loan(weeks=2)
    services.post_weekly_installments(**week(SUNDAY))
    record = PostingRunChunk.objects.get()
    PostingFailure.objects.create(run_id=record.run_id, installment=loan.installments.get(sequence=2), message="bad")

    with pytest.raises(IntegrityError, match="posting_run_chunk_once"), transaction.atomic():
        PostingRunChunk.objects.create(
            run_id=record.run_id, first_due=record.first_due, first_id=record.first_id, planned=1
        )
    with pytest.raises(IntegrityError, match="posting_failure_once_per_run"), transaction.atomic():
        PostingFailure.objects.create(run_id=record.run_id, installment=loan.installments.get(sequence=2), locked=True)

    assert (PostingRunChunk.objects.count(), PostingFailure.objects.count()) == (1, 1)


# --- Credit: a driver who paid ahead ---------------------------------------------------------------


def test_credit_of_a_driver_who_paid_ahead_pays_each_posted_installment():
    loan = make_loan(principal="300.00", weeks=3)
    other = make_loan(principal="300.00", weeks=3)  # no credit: stays unpaid
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("250.00"), received_on=SUNDAY, idempotency_key="ahead"
    )

    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))

    assert states(loan) == [
        (1, "paid", Decimal("0.00")),
        (2, "paid", Decimal("0.00")),
        (3, "scheduled", Decimal("100.00")),
    ]
    assert states(other) == [
        (1, "unpaid", Decimal("100.00")),
        (2, "unpaid", Decimal("100.00")),
        (3, "scheduled", Decimal("100.00")),
    ]
    assert ledger_selectors.party_balance(party=driver_party(loan.driver_id)) == Decimal("-50.00")
    aging = {
        row["party_id"]: row["total"] for row in ledger_selectors.open_items_aging(as_of=SUNDAY + timedelta(weeks=2))
    }
    assert aging == {str(other.driver_id): Decimal("200.00")}

    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=2)))

    loan.refresh_from_db()
    assert states(loan)[2] == (3, "partially_paid", Decimal("50.00"))
    assert loan.status == LoanStatus.ACTIVE
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("50.00"), received_on=SUNDAY, idempotency_key="rest"
    )
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED


def test_a_closed_credit_account_is_left_alone_and_the_installments_still_post():
    loan = make_loan(principal="300.00", weeks=3)
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("250.00"), received_on=SUNDAY, idempotency_key="ahead"
    )
    credit = Account.objects.get(party_type="loans.driver", party_id=str(loan.driver_id), category="", type="liability")
    ledger_services.set_account_active(account_id=credit.pk, is_active=False)

    result = services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))

    assert (result.posted, result.failed) == (2, 0)
    assert states(loan) == [
        (1, "unpaid", Decimal("100.00")),
        (2, "unpaid", Decimal("100.00")),
        (3, "scheduled", Decimal("100.00")),
    ]
    assert ledger_selectors.credit_balance(account=credit) == Decimal("250.00")


def test_a_loan_paid_ahead_closes_when_its_last_installment_is_posted():
    loan = make_loan(principal="200.00", weeks=2)
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=Decimal("200.00"), received_on=SUNDAY, idempotency_key="all"
    )

    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))

    loan.refresh_from_db()
    assert (loan.status, states(loan)) == (
        LoanStatus.CLOSED,
        [(1, "paid", Decimal("0.00")), (2, "paid", Decimal("0.00"))],
    )
    assert ledger_selectors.party_balance(party=driver_party(loan.driver_id)) == Decimal("0.00")


def test_a_chunk_costs_the_same_queries_for_few_and_many_drivers_with_or_without_credit():
    def queries_for_a_run(loans: int, with_credit: int) -> int:
        made = [make_loan(principal="200.00", weeks=2) for _ in range(loans)]
        for loan in made[:with_credit]:
            services.record_driver_payment(
                driver_id=loan.driver_id, amount=Decimal("1.00"), received_on=SUNDAY, idempotency_key=f"c{loan.pk}"
            )
        with CaptureQueriesContext(connection) as captured:
            services.post_weekly_installments(**week(SUNDAY), chunk_size=1000, loan_ids=[loan.pk for loan in made])
        return len(captured)

    queries_for_a_run(1, 1)  # the first run opens the chart of accounts
    few, many = queries_for_a_run(2, 0), queries_for_a_run(20, 0)

    assert many == few
    # The credit of a driver costs its own application, never a query per driver without credit.
    assert queries_for_a_run(20, 1) == queries_for_a_run(2, 1)


def states(loan) -> list[tuple[int, str, Decimal]]:
    from loans.selectors import installments_with_payments

    return [(i.sequence, i.payment_state, i.outstanding) for i in installments_with_payments().filter(loan=loan)]
