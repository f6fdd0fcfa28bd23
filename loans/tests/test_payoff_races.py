"""Two settlements of one loan at once: one pays it off, the other is refused or replays
(transactional: each commits in its own connection)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.models import JournalEntry
from loanproject.core.errors import Conflict
from loanproject.core.testing import run_together
from loans import accounts, services
from loans.models import LoanPayoff, LoanStatus

from .conftest import week
from .factories import SUNDAY, StaffUserFactory, make_loan

pytestmark = pytest.mark.django_db(transaction=True)

WEDNESDAY = date(2026, 1, 14)


def loan_to_pay_off():
    for opened in (accounts.cash_account, accounts.principal_account, accounts.interest_income_account):
        opened()  # opened on first use: two first settlements would queue on them
    loan = make_loan(principal="5200.00", weeks=6, rate="10")
    services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=1)))
    return loan


def settle(loan, key: str, actor):
    return lambda: services.settle_loan_by_payoff(
        loan_id=loan.pk, amount=Decimal("6000.00"), received_on=WEDNESDAY, idempotency_key=key, actor=actor
    )


def test_two_settlements_at_once_one_wins():
    loan = loan_to_pay_off()
    actor = StaffUserFactory()

    results = run_together(settle(loan, "a", actor), settle(loan, "b", actor))

    won = [r for r in results if isinstance(r, services.PayoffSettlement)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], Conflict)
    assert LoanPayoff.objects.count() == 1
    assert JournalEntry.objects.filter(source="loans.payoff").count() == 1
    loan.refresh_from_db()
    assert loan.status == LoanStatus.CLOSED


def test_the_same_request_twice_at_once_settles_once():
    loan = loan_to_pay_off()
    actor = StaffUserFactory()

    first, second = run_together(settle(loan, "same", actor), settle(loan, "same", actor))

    assert isinstance(first, services.PayoffSettlement) and isinstance(second, services.PayoffSettlement)
    assert first.payoff.pk == second.payoff.pk
    assert sorted([first.replayed, second.replayed]) == [False, True]
    assert LoanPayoff.objects.count() == 1
