"""Extreme dates and amounts: every one is a figure or a 400 with its field, never a 500."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from applications.tests.factories import CustomerFactory
from finance.models import Budget, BudgetPeriod, Goal
from finance.periods import budget_period_containing
from finance.selectors import budget_vs_actual
from finance.validators import DATE_RANGE_MESSAGE, MAX_AMOUNT, parse_amount

from .factories import AccountFactory, BudgetFactory, GoalFactory, TransactionFactory

BASE = "/api/v1/finance"
D = Decimal
OUT_OF_RANGE = ["0001-01-01", "1899-12-31", "2201-01-01", "9999-12-31"]
BIGGEST = D("999999999999.99")


def post(client, path, body):
    return client.post(f"{BASE}{path}", data=json.dumps(body), content_type="application/json")


@pytest.fixture
def account(partner):
    return AccountFactory(connection__customer=CustomerFactory(partner=partner), provider_account_id="chk-1")


# --- Dates ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("day", OUT_OF_RANGE)
@pytest.mark.parametrize(
    "path, parameter",
    [
        ("/customers/{customer}/summary/", "as_of"),
        ("/budgets/", "on"),
        ("/budgets/{budget}/", "on"),
        ("/goals/", "as_of"),
        ("/goals/{goal}/", "as_of"),
    ],
)
def test_a_report_day_outside_1900_to_2200_is_a_400(partner_client, account, path, parameter, day):
    budget = BudgetFactory(customer=account.customer)
    goal = GoalFactory(customer=account.customer)
    url = BASE + path.format(customer=account.customer_id, budget=budget.pk, goal=goal.pk)

    response = partner_client.get(url, {parameter: day})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {parameter: [DATE_RANGE_MESSAGE]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "day, first_month, last_month",
    [("1900-01-01", "1899-08-01", "1900-01-01"), ("2200-12-31", "2200-07-01", "2200-12-01")],
)
def test_the_first_and_last_days_of_the_range_are_reported(partner_client, account, day, first_month, last_month):
    response = partner_client.get(f"{BASE}/customers/{account.customer_id}/summary/", {"as_of": day})

    assert response.status_code == 200
    months = [row["month"] for row in response.json()["cash_flow"]]
    assert (months[0], months[-1], len(months)) == (first_month, last_month, 6)
    budgets = partner_client.get(f"{BASE}/budgets/", {"on": day})
    assert budgets.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("day", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["start_date", "end_date"])
def test_a_budget_dated_outside_the_range_is_a_400(partner_client, account, field, day):
    body = {
        "customer": account.customer_id,
        "name": "X",
        "period": "annual",
        "start_date": "2026-01-01",
        "limits": [{"category": "rent", "amount": "1.00"}],
    }

    response = post(partner_client, "/budgets/", body | {field: day})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [DATE_RANGE_MESSAGE]}
    assert Budget.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("day", OUT_OF_RANGE)
def test_a_goal_dated_outside_the_range_is_a_400(partner_client, account, day):
    goal = GoalFactory(customer=account.customer)

    created = post(
        partner_client,
        "/goals/",
        {"customer": account.customer_id, "name": "X", "target_amount": "1.00", "target_date": day},
    )
    changed = partner_client.patch(
        f"{BASE}/goals/{goal.pk}/", data=json.dumps({"target_date": day}), content_type="application/json"
    )

    assert (created.status_code, changed.status_code) == (400, 400)
    assert (
        created.json()["error"]["fields"] == changed.json()["error"]["fields"] == {"target_date": [DATE_RANGE_MESSAGE]}
    )
    goal.refresh_from_db()
    assert (Goal.objects.count(), goal.target_date) == (1, date(2026, 12, 31))


@pytest.mark.django_db
def test_the_models_refuse_dates_outside_the_range_for_every_door():
    budget = Budget(customer=CustomerFactory(), name="X", period="monthly", start_date=date(9999, 1, 1))

    with pytest.raises(ValidationError) as refused:
        budget.full_clean()

    assert refused.value.message_dict == {"start_date": [DATE_RANGE_MESSAGE]}


@pytest.mark.django_db
@pytest.mark.parametrize("period", BudgetPeriod.values)
def test_a_budget_stored_near_year_9999_still_has_actuals(period):
    # Written around the services (the models refuse it): the figures must still not crash.
    budget = BudgetFactory(period=period, start_date=date(9999, 12, 1))

    actuals = budget_vs_actual(budget, on=date(9999, 12, 31))

    assert (actuals.period.end, actuals.total_spent) == (date(9999, 12, 31), D("0.00"))


@settings(max_examples=300, deadline=None)
@given(
    period=st.sampled_from(BudgetPeriod.values),
    start=st.dates(),
    offset=st.integers(min_value=0, max_value=3_700_000),
    length=st.none() | st.integers(min_value=0, max_value=3_700_000),
)
def test_budget_periods_never_leave_the_calendar_and_always_contain_the_day(period, start, offset, length):
    on = start + timedelta(days=min(offset, (date.max - start).days))
    end = None if length is None else start + timedelta(days=min(length, (date.max - start).days))

    found = budget_period_containing(period=period, start_date=start, end_date=end, on=on)

    if end is not None and on > end:
        assert found is None
    else:
        assert start <= found.start <= on <= found.end
        assert end is None or found.end <= end


# --- Amounts -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_huge_percentage_of_a_tiny_limit_is_reported(partner_client, account):
    budget = BudgetFactory(customer=account.customer, start_date=date(2026, 3, 1), limits={"rent": "0.01"})
    TransactionFactory(account=account, date=date(2026, 3, 5), amount=D("-100000000.00"), category="rent")

    response = partner_client.get(f"{BASE}/budgets/{budget.pk}/", {"on": "2026-03-20"})

    assert response.status_code == 200, response.content
    assert response.json()["actuals"]["lines"] == [
        {
            "category": "rent",
            "limit": "0.01",
            "spent": "100000000.00",
            "remaining": "-99999999.99",
            "percent_used": "1000000000000.00",
            "over_budget": True,
        }
    ]


@pytest.mark.django_db
def test_sums_beyond_what_one_amount_holds_are_reported_exactly(partner_client, account):
    for n in range(3):
        TransactionFactory(account=account, date=date(2026, 3, 5 + n), amount=-BIGGEST, category="rent")
        TransactionFactory(account=account, date=date(2026, 3, 5 + n), amount=BIGGEST, category="payroll")
        AccountFactory(connection=account.connection, current_balance=BIGGEST)
    budget = BudgetFactory(customer=account.customer, start_date=date(2026, 3, 1), limits={"rent": "0.01"})

    summary = partner_client.get(
        f"{BASE}/customers/{account.customer_id}/summary/", {"as_of": "2026-03-31", "months": 1}
    )
    budgets = partner_client.get(f"{BASE}/budgets/{budget.pk}/", {"on": "2026-03-31"})

    assert (summary.status_code, budgets.status_code) == (200, 200)
    assert summary.json()["cash_flow"] == [
        {
            "month": "2026-03-01",
            "inflow": "2999999999999.97",
            "outflow": "2999999999999.97",
            "net": "0.00",
            "complete": False,
        }
    ]
    assert (summary.json()["total_assets"], summary.json()["net_worth"]) == ("3000000000999.97", "3000000000999.97")
    line = budgets.json()["actuals"]["lines"][0]
    assert (line["spent"], line["percent_used"]) == ("2999999999999.97", "29999999999999700.00")


@pytest.mark.parametrize("text", ["1e3", "1E+3", "-1e-2", "Infinity", "NaN", ".5", "5.", "1,2,3", "0x10", "１２"])
def test_amounts_that_are_not_plain_decimals_are_refused(text):
    with pytest.raises(ValidationError, match="is not a number"):
        parse_amount(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-0", "0.00"),
        ("-0.00", "0.00"),
        ("+0", "0.00"),
        ("+5", "5.00"),
        (" -12.5 ", "-12.50"),
        ("-1,234,567.89", "-1234567.89"),
        ("999999999999.99", "999999999999.99"),
    ],
)
def test_plain_decimals_are_exact_and_negative_zero_is_zero(text, expected):
    assert str(parse_amount(text)) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789-+.,eE x"), max_size=20) | st.text(max_size=20))
def test_any_text_is_an_exact_amount_or_a_validation_error(text):
    try:
        amount = parse_amount(text)
    except ValidationError:
        return
    assert amount.as_tuple().exponent == -2 and abs(amount) <= MAX_AMOUNT
    assert str(amount) != "-0.00"
    assert amount == Decimal(text.strip().replace(",", ""))


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["1e3", "Infinity", "1.005", "1000000000000.00"])
def test_odd_money_in_the_api_is_a_400(partner_client, account, amount):
    response = post(
        partner_client,
        "/accounts/",
        {
            "connection": account.connection_id,
            "provider_account_id": "x",
            "name": "X",
            "type": "checking",
            "current_balance": amount,
        },
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["current_balance"]
