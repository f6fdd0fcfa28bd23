"""The partner's transaction list, paged by cursor: every one of the partner's transactions on
open accounts exactly once in the requested order, read through the partner-led indexes on the
transaction's own partner column (no join to the customer to find the partner)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from applications.tests.factories import CustomerFactory
from finance.models import Transaction
from loanproject.core.testing import walk_cursor_pages as walk

from .factories import AccountFactory, TransactionFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/finance/transactions/"


@pytest.fixture
def rows(partner, other_partner):
    """11 transactions of the partner's two customers on 3 dates, amounts and import times (ties),
    plus one on a closed account and two of another partner's customer among them."""
    accounts = [AccountFactory(connection__customer=CustomerFactory(partner=partner)) for _ in range(2)]
    now = timezone.now()
    for n in range(11):
        TransactionFactory(
            account=accounts[n % 2],
            date=date(2026, 3, 1) + timedelta(days=n % 3),
            amount=Decimal(("-5.00", "12.50", "-5.00")[n % 3]),
            imported_at=now - timedelta(minutes=n % 3),
        )
    TransactionFactory(
        account=AccountFactory(connection__customer=accounts[0].customer, deleted_at=now), date=date(2026, 3, 1)
    )
    TransactionFactory.create_batch(
        2, account=AccountFactory(connection__customer=CustomerFactory(partner=other_partner)), date=date(2026, 3, 2)
    )


@pytest.mark.parametrize("ordering", ["date", "-date", "amount", "-amount", "imported_at", "-imported_at"])
def test_a_walk_returns_each_of_the_partners_transactions_once_in_order(partner_client, partner, rows, ordering):
    key = ordering.lstrip("-")
    mine = Transaction.objects.filter(customer__partner=partner, account__deleted_at__isnull=True)
    expected = [pk for _, pk in sorted(mine.values_list(key, "pk"), reverse=ordering.startswith("-"))]

    ids, pages = walk(partner_client, f"{URL}?ordering={ordering}&page_size=4")

    assert (ids, pages, len(expected)) == (expected, 3, 11)


def test_the_list_filters_on_the_transactions_own_partner_and_uses_its_index(partner_client, partner, rows):
    partner_client.get(URL)  # the first request verifies the partner's key
    with CaptureQueriesContext(connection) as captured:
        response = partner_client.get(URL, {"page_size": 4})
    assert response.status_code == 200, response.json()
    (sql,) = [query["sql"] for query in captured.captured_queries if 'FROM "finance_transaction"' in query["sql"]]

    assert f'"finance_transaction"."partner_id" = {partner.pk}' in sql, sql
    assert "applications_customer" not in sql, sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would be scanned anyway
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "transaction_partner_date" in plan, plan
