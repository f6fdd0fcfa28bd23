"""Schedule changes meet (transactional: each side commits): a prepayment sent twice at once, a
prepayment and a restructuring of one loan, a prepayment and the weekly posting."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger import selectors as ledger_selectors
from ledger.models import Account
from loanproject.core.testing import run_together
from loans import accounts, services
from loans.models import Installment, LoanPrepayment, ScheduleVersion

from .conftest import week
from .factories import SUNDAY, StaffUserFactory, make_loan

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


def prepay(loan, key: str, staff):
    return lambda: services.prepay_loan(
        loan_id=loan.pk,
        amount=D("400.00"),
        received_on=date(2026, 1, 5),
        mode="reduce_term",
        idempotency_key=key,
        actor=staff,
    )


def unbilled_is_1300() -> bool:
    scheduled = sum((i.principal for i in Installment.objects.filter(status="scheduled")), D("0"))
    return ledger_selectors.account_balance(account=Account.objects.get(code="1300")) == scheduled


def test_the_same_prepayment_sent_twice_at_once_is_taken_once():
    accounts.cash_account(), accounts.principal_account()  # opened on first use
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    staff = StaffUserFactory()

    results = run_together(prepay(loan, "BANK-1", staff), prepay(loan, "BANK-1", staff))

    assert not any(isinstance(result, Exception) for result in results), results
    assert sorted(result.replayed for result in results) == [False, True]
    assert LoanPrepayment.objects.count() == 1
    assert ScheduleVersion.objects.filter(loan=loan).count() == 2
    assert unbilled_is_1300()


def test_a_prepayment_and_a_restructuring_queue_on_the_loan():
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    staff = StaffUserFactory()

    results = run_together(
        prepay(loan, "BANK-2", staff),
        lambda: services.restructure_loan(loan_id=loan.pk, kind="extension", periods=2, reason="x", actor=staff),
    )

    assert not any(isinstance(result, Exception) for result in results), results
    assert list(ScheduleVersion.objects.filter(loan=loan).order_by("number").values_list("number", flat=True)) == [
        1,
        2,
        3,
    ]
    live = Installment.objects.filter(loan=loan).exclude(status="cancelled")
    assert sorted(live.values_list("sequence", flat=True)) == list(range(1, live.count() + 1))
    assert unbilled_is_1300()
