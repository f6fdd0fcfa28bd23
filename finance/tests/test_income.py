"""estimated_monthly_incomes: the interface the scoring agents use (exact values, one query)."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from applications.tests.factories import CustomerFactory
from finance.selectors import estimated_monthly_income, estimated_monthly_incomes

from .factories import AccountFactory, TransactionFactory

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 5, 17)  # window for 3 months: 2026-02-01 .. 2026-04-30


def tx(account, day, amount, category="", pending=False):
    return TransactionFactory(account=account, date=day, amount=Decimal(amount), category=category, pending=pending)


@pytest.fixture
def customers():
    earner = AccountFactory()
    tx(earner, date(2026, 2, 15), "3000.00", "payroll")
    tx(earner, date(2026, 3, 15), "3000.00", "salary")
    tx(earner, date(2026, 4, 15), "3100.00", "payroll")
    # None of these is income in the window:
    tx(earner, date(2026, 4, 30), "500.00", "payroll", pending=True)  # not settled
    tx(earner, date(2026, 3, 20), "20.00", "shopping")  # a refund
    tx(earner, date(2026, 3, 21), "1000.00", "transfer")  # own money moved
    tx(earner, date(2026, 5, 1), "3100.00", "payroll")  # current month
    tx(earner, date(2026, 1, 31), "3100.00", "payroll")  # before the window
    tx(earner, date(2026, 3, 2), "-50.00", "groceries")
    closed = AccountFactory(connection=earner.connection, deleted_at=timezone.now())
    tx(closed, date(2026, 3, 1), "900.00", "income")  # closed account

    spender = AccountFactory()
    tx(spender, date(2026, 2, 1), "-10.00", "groceries")  # first day of the window

    stale = AccountFactory()
    tx(stale, date(2026, 1, 31), "4000.00", "payroll")  # only before the window

    only_closed = AccountFactory(deleted_at=timezone.now())
    tx(only_closed, date(2026, 3, 1), "4000.00", "payroll")

    no_data = CustomerFactory()
    return {
        "earner": earner.customer_id,
        "spender": spender.customer_id,
        "stale": stale.customer_id,
        "only_closed": only_closed.customer_id,
        "no_data": no_data.pk,
    }


def test_income_is_settled_income_inflows_of_the_full_months_before_as_of(customers, django_assert_num_queries):
    with django_assert_num_queries(1):
        incomes = estimated_monthly_incomes(customer_ids=customers.values(), as_of=AS_OF)

    # (3000 + 3000 + 3100) / 3 = 3033.333... -> 3033.33; the spender has data but no income.
    assert incomes == {customers["earner"]: Decimal("3033.33"), customers["spender"]: Decimal("0.00")}


def test_the_window_follows_months_and_as_of(customers):
    one_month = estimated_monthly_incomes(customer_ids=[customers["earner"]], as_of=AS_OF, months=1)
    june = estimated_monthly_incomes(customer_ids=[customers["earner"]], as_of=date(2026, 6, 1), months=1)
    four = estimated_monthly_incomes(customer_ids=[customers["earner"], customers["stale"]], as_of=AS_OF, months=4)

    assert one_month == {customers["earner"]: Decimal("3100.00")}  # April only
    assert june == {customers["earner"]: Decimal("3100.00")}  # May: the payroll of May 1
    # Jan-Apr: (3100 + 3000 + 3000 + 3100) / 4 = 3050.00; the stale customer now has January.
    assert four == {customers["earner"]: Decimal("3050.00"), customers["stale"]: Decimal("1000.00")}


def test_rounding_is_half_even_to_cents():
    account = AccountFactory()
    tx(account, date(2026, 3, 3), "100.05", "benefits")

    incomes = estimated_monthly_incomes(customer_ids=[account.customer_id], as_of=date(2026, 5, 1), months=2)

    assert incomes == {account.customer_id: Decimal("50.02")}  # 50.025 -> 50.02


def test_one_query_for_any_number_of_customers(django_assert_num_queries):
    accounts = AccountFactory.create_batch(30)
    for account in accounts:
        tx(account, date(2026, 3, 10), "1500.00", "payroll")

    with django_assert_num_queries(1):
        incomes = estimated_monthly_incomes(customer_ids=(a.customer_id for a in accounts), as_of=AS_OF)

    assert incomes == {a.customer_id: Decimal("500.00") for a in accounts}


def test_no_customers_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert estimated_monthly_incomes(customer_ids=[], as_of=AS_OF) == {}


def test_one_customer(customers):
    assert estimated_monthly_income(customer_id=customers["earner"], as_of=AS_OF) == Decimal("3033.33")
    assert estimated_monthly_income(customer_id=customers["no_data"], as_of=AS_OF) is None


def test_months_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        estimated_monthly_incomes(customer_ids=[1], months=0)
