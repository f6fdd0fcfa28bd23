"""The portfolio figures of loans whose schedule changed or that were paid off: principal billed
outside the installments (prepayments, payoffs) and interest capitalised into the schedule count,
and repaid + outstanding = principal + capitalised."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from applications.tests.factories import StaffUserFactory
from loanproject.core.testing import approve_waiting_requests
from loans import selectors, services
from loans.models import LoanStatus
from loans.payoff import payoff_quote
from loans.services.prepayments import prepay_loan

from .conftest import week
from .factories import SUNDAY, make_loan

pytestmark = pytest.mark.django_db

D = Decimal
MONDAY = date(2026, 1, 5)
FIGURES = (
    "billed_principal",
    "paid",
    "principal_repaid",
    "billed_outstanding",
    "outstanding_principal",
    "unbilled_principal",
)


def figures(loan) -> tuple:
    ((_, row),) = [(found, row) for found, row in selectors.loan_portfolio_page(limit=50) if found.pk == loan.pk]
    return tuple(row[name] for name in FIGURES)


def test_a_prepaid_loan_counts_its_prepayment_as_billed_and_repaid_principal():
    """1,000.00 at 10 % over 8 weeks; installment 1 (124.16 principal + 1.92 interest) posted; 400.00
    received: 126.08 pays installment 1, 273.92 prepays principal; 601.92 stays scheduled."""
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    prepay_loan(
        loan_id=loan.pk,
        amount=D("400.00"),
        received_on=MONDAY,
        mode="reduce_term",
        idempotency_key="K1",
        actor=StaffUserFactory(),
    )

    assert figures(loan) == (D("398.08"), D("400.00"), D("398.08"), D("0.00"), D("601.92"), D("601.92"))
    totals = selectors.portfolio_totals()
    assert (totals["loans"], totals["outstanding"]) == (1, D("601.92"))


def test_a_capitalised_holiday_adds_its_interest_to_what_is_outstanding():
    """The same loan, installment 1 posted and paid; a 4-week holiday capitalises 6.75 (the
    restructuring's worked example): 875.84 + 6.75 = 882.59 scheduled and outstanding."""
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    staff = StaffUserFactory(is_superuser=True)
    services.record_driver_payment(
        driver_id=loan.driver_id, amount=D("126.08"), received_on=MONDAY, idempotency_key="P1", created_by=staff
    )
    services.request_loan_restructuring(
        loan_id=loan.pk, kind="holiday", periods=4, capitalise=True, reason="Hardship", requested_by=staff
    )
    approve_waiting_requests()

    assert figures(loan) == (D("124.16"), D("126.08"), D("124.16"), D("0.00"), D("882.59"), D("882.59"))
    assert selectors.portfolio_totals()["outstanding"] == D("882.59")


def test_a_paid_off_loan_has_nothing_outstanding_and_its_payoff_principal_repaid():
    """Installment 1 posted, the payoff on Saturday 10 January bills the 875.84 left with its
    interest: everything billed is repaid, nothing is outstanding or scheduled."""
    loan = make_loan(principal="1000.00", weeks=8, rate="10")
    services.post_weekly_installments(**week(SUNDAY))
    staff = StaffUserFactory(is_superuser=True)
    quote = payoff_quote(loan_id=loan.pk, as_of=date(2026, 1, 10))
    services.settle_loan_by_payoff(
        loan_id=loan.pk, amount=quote.total, received_on=date(2026, 1, 10), idempotency_key="PO", actor=staff
    )
    loan.refresh_from_db()

    billed, paid, repaid, owed, outstanding, unbilled = figures(loan)
    assert loan.status == LoanStatus.CLOSED
    assert (billed, repaid, owed, outstanding, unbilled) == (
        D("1000.00"),
        D("1000.00"),
        D("0.00"),
        D("0.00"),
        D("0.00"),
    )
    assert paid == quote.total
