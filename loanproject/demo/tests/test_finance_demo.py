"""`make run` shows personal finance: the demo customers have it, through the partner API too."""

import pytest
from django.core.management import call_command

from applications.models import LoanApplication
from finance import selectors
from finance.models import Budget, Goal, NetWorthSnapshot, Transaction
from loanproject.core.money import to_cents
from loanproject.demo.seed import DEMO_API_KEY, DEMO_PARTNER_CODE, PROFILES

pytestmark = pytest.mark.django_db


def test_demo_customers_have_finances_matching_their_declared_income(client, settings):
    settings.DEBUG = True
    call_command("load_demo_data", "--password", "demo-pass-123", stdout=None)
    declared = dict(
        LoanApplication.objects.filter(
            external_ref__in=[f"DEMO-APP-{n + 1:03d}" for n in range(len(PROFILES))]
        ).values_list("customer_id", "annual_income")
    )

    incomes = selectors.estimated_monthly_incomes(customer_ids=declared)
    response = client.get("/api/v1/finance/transactions/", HTTP_AUTHORIZATION=f"Api-Key {DEMO_API_KEY}")

    # Paid on the 1st and the 15th: twice the annual income / 24, to the cent.
    assert incomes == {customer_id: 2 * to_cents(annual / 24) for customer_id, annual in declared.items()}
    assert NetWorthSnapshot.objects.values("customer_id").distinct().count() == len(PROFILES)
    assert Budget.objects.count() == len(PROFILES) and Goal.objects.count() >= len(PROFILES)
    assert response.status_code == 200
    shown = [row["id"] for row in response.json()["results"]]
    assert len(shown) == 50  # a full first page
    assert (
        set(  # only the demo partner's customers', while other partners' exist
            Transaction.objects.filter(id__in=shown).values_list("customer__partner__code", flat=True)
        )
        == {DEMO_PARTNER_CODE}
        != set(Transaction.objects.values_list("customer__partner__code", flat=True))
    )
