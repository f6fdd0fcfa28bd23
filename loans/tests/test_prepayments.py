"""Partial prepayment (services/prepayments.py): the payment pays what is due, the rest is billed
as one prepayment item (Dr LOANS / Cr 1300) settled at once, and the unposted installments are
re-amortized as schedule version 2 (reduce-term or reduce-installment)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from applications.tests.factories import StaffUserFactory
from ledger import selectors as ledger_selectors
from ledger.models import Account, JournalEntry, OpenItem
from loanproject.core.errors import DomainError
from loans import services
from loans.models import DriverLoan, Installment, LoanPrepayment, ScheduleVersion
from loans.services.prepayments import prepay_loan

from .conftest import week
from .factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db

D = Decimal
MONDAY = date(2026, 1, 5)


def live(loan: DriverLoan) -> list[tuple]:
    """The live schedule: (version, sequence, due, principal, interest, amount, balance after, status)."""
    return [
        (
            i.schedule_version.number,
            i.sequence,
            i.due_date,
            i.principal,
            i.interest,
            i.amount,
            i.balance_after,
            i.status,
        )
        for i in Installment.objects.filter(loan=loan)
        .exclude(status="cancelled")
        .select_related("schedule_version")
        .order_by("sequence")
    ]


def scheduled_principal(loan: DriverLoan) -> Decimal:
    return sum((i.principal for i in Installment.objects.filter(loan=loan, status="scheduled")), D("0"))


@pytest.fixture
def loan() -> DriverLoan:
    """1,000.00 at 10 % over 8 weeks, installment 1 (126.08) posted and unpaid."""
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    return loan


def test_reduce_term_keeps_the_installment_and_drops_installments(loan):
    """400.00 received: 126.08 pays installment 1, 273.92 prepays principal; 601.92 is left,
    repaid by four installments of 126.08 and a last of 100.99 (were seven of 126.08)."""
    staff = StaffUserFactory()

    done = prepay_loan(
        loan_id=loan.pk,
        amount=D("400.00"),
        received_on=MONDAY,
        mode="reduce_term",
        idempotency_key="BANK-1",
        actor=staff,
    )

    prepayment = done.prepayment
    assert (prepayment.received, prepayment.amount, prepayment.mode) == (D("400.00"), D("273.92"), "reduce_term")
    version = prepayment.schedule_version
    assert (version.number, version.kind, version.from_sequence, version.balance, version.installment_count) == (
        2,
        "prepayment_reduce_term",
        2,
        D("601.92"),
        5,
    )
    v1 = (1, 1, date(2026, 1, 4), D("124.16"), D("1.92"), D("126.08"), D("875.84"), "posted")
    assert live(loan) == [
        v1,
        (2, 2, date(2026, 1, 11), D("124.92"), D("1.16"), D("126.08"), D("477.00"), "scheduled"),
        (2, 3, date(2026, 1, 18), D("125.16"), D("0.92"), D("126.08"), D("351.84"), "scheduled"),
        (2, 4, date(2026, 1, 25), D("125.40"), D("0.68"), D("126.08"), D("226.44"), "scheduled"),
        (2, 5, date(2026, 2, 1), D("125.64"), D("0.44"), D("126.08"), D("100.80"), "scheduled"),
        (2, 6, date(2026, 2, 8), D("100.80"), D("0.19"), D("100.99"), D("0.00"), "scheduled"),
    ]
    # Version 1's unposted installments are cancelled, never deleted; the posted one is untouched.
    assert Installment.objects.filter(loan=loan, schedule_version__number=1, status="cancelled").count() == 7
    # The book: one prepayment entry Dr LOANS / Cr 1300, its item paid by the payment's credit.
    entry = prepayment.entry
    assert (entry.idempotency_key, entry.source) == (f"loans.prepayment:{loan.pk}:BANK-1", "loans.prepayment")
    legs = sorted((leg.account.code, leg.debit, leg.credit) for leg in entry.postings.select_related("account"))
    assert legs == [("1300", D("0"), D("273.92")), (f"loans.driver:{loan.driver_id}:LOANS:USD", D("273.92"), D("0"))]
    item = OpenItem.objects.get(entry=entry)
    assert (item.amount, item.outstanding, item.status) == (D("273.92"), D("0.00"), "closed")
    assert ledger_selectors.account_balance(account=Account.objects.get(code="1300")) == D("601.92")
    assert scheduled_principal(loan) == D("601.92")
    # principal = posted principal + prepaid + scheduled principal
    assert D("124.16") + D("273.92") + D("601.92") == loan.principal


def test_reduce_installment_keeps_the_count_and_lowers_the_installment(loan):
    """The same 400.00: the seven installments left are kept, each 86.65 (the last 86.66), where
    they were 126.08."""
    done = prepay_loan(
        loan_id=loan.pk,
        amount=D("400.00"),
        received_on=MONDAY,
        mode="reduce_installment",
        idempotency_key="BANK-2",
        actor=StaffUserFactory(),
    )

    assert done.prepayment.schedule_version.kind == "prepayment_reduce_installment"
    assert live(loan)[1:] == EXPECTED_REDUCE_INSTALLMENT
    assert sum(row[3] for row in live(loan)[1:]) == D("601.92")
    assert ledger_selectors.account_balance(account=Account.objects.get(code="1300")) == D("601.92")


EXPECTED_REDUCE_INSTALLMENT = [
    (2, 2, date(2026, 1, 11), D("85.49"), D("1.16"), D("86.65"), D("516.43"), "scheduled"),
    (2, 3, date(2026, 1, 18), D("85.66"), D("0.99"), D("86.65"), D("430.77"), "scheduled"),
    (2, 4, date(2026, 1, 25), D("85.82"), D("0.83"), D("86.65"), D("344.95"), "scheduled"),
    (2, 5, date(2026, 2, 1), D("85.99"), D("0.66"), D("86.65"), D("258.96"), "scheduled"),
    (2, 6, date(2026, 2, 8), D("86.15"), D("0.50"), D("86.65"), D("172.81"), "scheduled"),
    (2, 7, date(2026, 2, 15), D("86.32"), D("0.33"), D("86.65"), D("86.49"), "scheduled"),
    (2, 8, date(2026, 2, 22), D("86.49"), D("0.17"), D("86.66"), D("0.00"), "scheduled"),
]


def test_the_same_key_replays_and_books_nothing_twice(loan):
    staff = StaffUserFactory()
    first = prepay_loan(
        loan_id=loan.pk, amount=D("400.00"), received_on=MONDAY, mode="reduce_term", idempotency_key="K", actor=staff
    )
    entries = JournalEntry.objects.count()

    again = prepay_loan(
        loan_id=loan.pk, amount=D("400.00"), received_on=MONDAY, mode="reduce_term", idempotency_key="K", actor=staff
    )

    assert again.replayed and again.prepayment.pk == first.prepayment.pk
    assert JournalEntry.objects.count() == entries
    assert ScheduleVersion.objects.filter(loan=loan).count() == 2


def test_a_payment_that_only_pays_what_is_due_is_refused_and_changes_nothing(loan):
    entries, before = JournalEntry.objects.count(), live(loan)

    with pytest.raises(DomainError, match="Nothing is left to prepay") as refused:
        prepay_loan(
            loan_id=loan.pk,
            amount=D("126.08"),
            received_on=MONDAY,
            mode="reduce_term",
            idempotency_key="K",
            actor=StaffUserFactory(),
        )

    assert refused.value.fields == {"amount": ["More than what is due is needed to prepay principal."]}
    assert (JournalEntry.objects.count(), live(loan)) == (entries, before)
    assert not LoanPrepayment.objects.exists()
    assert ScheduleVersion.objects.filter(loan=loan).count() == 1


def test_prepaying_everything_leaves_no_installment_and_closes_the_loan(loan):
    done = prepay_loan(
        loan_id=loan.pk,
        amount=D("1200.00"),
        received_on=MONDAY,
        mode="reduce_installment",
        idempotency_key="ALL",
        actor=StaffUserFactory(),
    )

    assert done.prepayment.amount == D("875.84")
    assert done.prepayment.schedule_version.installment_count == 0
    assert not Installment.objects.filter(loan=loan, status="scheduled").exists()
    loan.refresh_from_db()
    assert loan.status == "closed"
    assert ledger_selectors.account_balance(account=Account.objects.get(code="1300")) == D("0.00")


def test_the_posting_posts_version_2_and_never_a_cancelled_installment(loan):
    prepay_loan(
        loan_id=loan.pk,
        amount=D("400.00"),
        received_on=MONDAY,
        mode="reduce_term",
        idempotency_key="K",
        actor=StaffUserFactory(),
    )

    result = services.post_weekly_installments(**week(date(2026, 1, 11)))

    assert (result.posted, result.total_amount) == (1, D("126.08"))
    posted = Installment.objects.get(loan=loan, sequence=2, status="posted")
    assert (posted.schedule_version.number, posted.principal) == (2, D("124.92"))
    assert Installment.objects.get(loan=loan, sequence=2, status="cancelled").posted_entry_id is None
    assert ledger_selectors.account_balance(account=Account.objects.get(code="1300")) == D("477.00")


def test_the_database_refuses_two_live_installments_with_one_sequence(loan):
    installment = Installment.objects.get(loan=loan, sequence=2)
    with pytest.raises(IntegrityError, match="installment_sequence_unique_per_loan"), transaction.atomic():
        Installment.objects.filter(loan=loan, sequence=3).update(sequence=installment.sequence)


def test_the_database_refuses_a_prepayment_of_nothing_and_an_unknown_mode(loan):
    prepayment = prepay_loan(
        loan_id=loan.pk,
        amount=D("400.00"),
        received_on=MONDAY,
        mode="reduce_term",
        idempotency_key="K",
        actor=StaffUserFactory(),
    ).prepayment
    for change, constraint in [
        ({"amount": D("0")}, "loan_prepayment_amount_positive"),
        ({"mode": "skip"}, "loan_prepayment_mode_known"),
    ]:
        with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
            LoanPrepayment.objects.filter(pk=prepayment.pk).update(**change)
