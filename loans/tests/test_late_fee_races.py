"""Late fees charged exactly once when two nightly runs meet (transactional: each run commits)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.models import JournalEntry, OpenItem
from loanproject.core.testing import run_together
from loans import accounts, services
from loans.models import LateFee

from .conftest import week
from .factories import SUNDAY, LeaseFactory, StaffUserFactory, book_from_product, make_product

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_runs_at_once_charge_each_installment_once():
    accounts.late_fee_income_account()  # opened on first use: two first runs would queue on it
    product = make_product(min_annual_rate=Decimal("0"), late_fee_kind="flat", late_fee_amount=Decimal("25.00"))
    officer = StaffUserFactory()
    for _ in range(6):
        book_from_product(product, rate="0", lease=LeaseFactory(), created_by=officer)
    for offset in range(2):
        services.post_weekly_installments(**week(SUNDAY + timedelta(weeks=offset)))

    results = run_together(*[lambda: services.charge_late_fees(as_of=date(2026, 1, 20), chunk_size=2)] * 2)

    assert not any(isinstance(result, Exception) for result in results), results
    assert sum(result.charged for result in results) == 12
    assert sum(result.amount for result in results) == Decimal("300.00")
    assert LateFee.objects.count() == 12
    assert LateFee.objects.values("installment").distinct().count() == 12
    entries = JournalEntry.objects.filter(source="loans.late_fee")
    assert entries.count() == 12
    assert OpenItem.objects.filter(entry__in=entries).count() == 12
