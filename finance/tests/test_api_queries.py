"""List endpoints cost the same number of queries for 2 rows as for 12 (no N+1)."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applications.tests.factories import CustomerFactory

from .factories import (
    AccountFactory,
    BankConnectionFactory,
    BudgetFactory,
    GoalFactory,
    NetWorthSnapshotFactory,
    TransactionFactory,
)
from .test_constraints import make_document

pytestmark = pytest.mark.django_db


def _rows(resource, partner, count):
    for n in range(count):
        customer = CustomerFactory(partner=partner)
        if resource == "connections":
            BankConnectionFactory(customer=customer)
        elif resource == "accounts":
            AccountFactory(connection__customer=customer)
        elif resource == "transactions":
            TransactionFactory(account=AccountFactory(connection__customer=customer))
        elif resource == "budgets":
            budget = BudgetFactory(customer=customer, limits={"groceries": "100.00", "rent": "900.00"})
            TransactionFactory(account=AccountFactory(connection__customer=customer), date=budget.start_date)
        elif resource == "goals":
            GoalFactory(customer=customer)
        elif resource == "snapshots":
            NetWorthSnapshotFactory(customer=customer, date=date(2026, 1, 1 + n))
        elif resource == "documents":
            make_document(customer, sha256=f"{n:064x}")


@pytest.mark.parametrize(
    "resource", ["connections", "accounts", "transactions", "budgets", "goals", "snapshots", "documents"]
)
def test_list_queries_do_not_grow_with_rows(partner_client, partner, resource):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = partner_client.get(f"/api/v1/finance/{resource}/", {"on": "2026-01-10"})
        assert response.status_code == 200, response.json()
        return len(captured)

    queries()  # the first request verifies the partner's key, which the process then keeps a moment
    _rows(resource, partner, 2)
    few = queries()
    _rows(resource, partner, 10)
    many = queries()

    assert many == few
