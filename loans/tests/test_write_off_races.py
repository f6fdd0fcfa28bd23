"""Write-offs and recoveries when two transactions meet (transactional: each one commits)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum

from ledger.models import JournalEntry, OpenItem, OpenItemStatus, Posting
from loanproject.core.errors import IllegalTransition
from loanproject.core.testing import run_together
from loans import accounts, services
from loans.models import DriverLoan, LoanRecovery, LoanStatus, LoanWriteOff

from .conftest import week
from .factories import SUNDAY, StaffUserFactory, make_loan

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
DAY = date(2026, 1, 20)


@pytest.fixture
def loan() -> DriverLoan:
    for opened in (accounts.loan_losses_account, accounts.recovery_income_account, accounts.cash_account):
        opened()  # opened on first use: two first users would queue on it
    loan = make_loan()  # 1000.00 over 4 weeks at 0 %
    services.post_weekly_installments(**week(SUNDAY))
    return loan


def _receivable(loan: DriverLoan) -> Decimal:
    legs = Posting.objects.filter(account=loan.receivable_account).aggregate(d=Sum("debit"), c=Sum("credit"))
    return (legs["d"] or D("0")) - (legs["c"] or D("0"))


def test_two_write_offs_at_once_write_the_loan_off_once(loan):
    actor = StaffUserFactory()

    results = run_together(
        *[lambda: services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=DAY)] * 2
    )

    assert sorted(type(result).__name__ for result in results) == ["IllegalTransition", "LoanWriteOff"]
    assert LoanWriteOff.objects.get().total == D("1000.00")
    assert JournalEntry.objects.filter(source="loans.write_off").count() == 1
    assert DriverLoan.objects.get(pk=loan.pk).status == LoanStatus.WRITTEN_OFF


def test_a_payment_and_a_write_off_at_once_leave_the_books_consistent(loan):
    actor = StaffUserFactory()

    results = run_together(
        lambda: services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=DAY),
        lambda: services.record_driver_payment(
            driver_id=loan.driver_id, amount=D("100.00"), received_on=DAY, idempotency_key="p"
        ),
    )

    assert not any(isinstance(result, Exception) for result in results), results
    write_off = LoanWriteOff.objects.get()
    # Whichever came first, the write-off gave up exactly what was left of the 1000.00, and the
    # payment either paid the item first or went to the driver's credit.
    paid = D("1000.00") - write_off.total
    assert paid in (D("0.00"), D("100.00"))
    assert write_off.entry.postings.aggregate(total=Sum("debit"))["total"] == write_off.total
    assert _receivable(loan) == D("0.00")
    assert not OpenItem.objects.filter(status=OpenItemStatus.OPEN, account=loan.receivable_account).exists()


def test_the_same_recovery_twice_at_once_is_booked_once(loan):
    actor = StaffUserFactory()
    services.write_off_loan(loan_id=loan.pk, reason="Gone", actor=actor, as_of=DAY)

    def recover():
        return services.record_loan_recovery(
            loan_id=loan.pk, amount=D("40.00"), received_on=DAY, idempotency_key="bank-1", actor=actor
        )

    results = run_together(recover, recover)

    assert not any(isinstance(result, Exception) for result in results), results
    assert sorted(result.replayed for result in results) == [False, True]
    assert LoanRecovery.objects.count() == 1
    assert JournalEntry.objects.filter(source="loans.recovery").count() == 1


def test_a_recovery_waits_for_the_write_off_and_is_refused_before_it():
    with pytest.raises(IllegalTransition):
        services.record_loan_recovery(
            loan_id=make_loan().pk, amount=D("1.00"), received_on=DAY, idempotency_key="k", actor=StaffUserFactory()
        )
    assert not LoanRecovery.objects.exists()
