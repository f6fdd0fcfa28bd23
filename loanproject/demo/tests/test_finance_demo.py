"""`make run` shows personal finance: the demo customers have it, through the partner API too."""

import pytest
from django.core.management import call_command

from applications.models import Customer
from finance import selectors
from finance.models import Budget, Goal, NetWorthSnapshot, Transaction
from loanproject.demo.seed import DEMO_API_KEY

pytestmark = pytest.mark.django_db


def test_demo_customers_have_finances(client, settings):
    settings.DEBUG = True
    call_command("load_demo_data", "--password", "demo-pass-123", stdout=None)
    customer_ids = list(Customer.objects.values_list("pk", flat=True))

    incomes = selectors.estimated_monthly_incomes(customer_ids=customer_ids)
    response = client.get("/api/v1/finance/transactions/", HTTP_AUTHORIZATION=f"Api-Key {DEMO_API_KEY}")

    assert len(customer_ids) == 12 and set(incomes) == set(customer_ids)
    assert all(income > 0 for income in incomes.values())
    assert NetWorthSnapshot.objects.values("customer_id").distinct().count() == 12
    assert Budget.objects.count() == 12 and Goal.objects.count() >= 12
    assert response.status_code == 200
    assert 0 < response.json()["count"] < Transaction.objects.count()  # only the demo partner's customers
