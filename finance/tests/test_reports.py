"""Budget against actual, goal progress and monthly cash flow, with exact values."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from finance.models import Budget
from finance.periods import DateRange, budget_period_containing, full_months_before, months_until
from finance.selectors import MonthlyCashFlow, budget_actuals, budget_vs_actual, goal_progress, monthly_cash_flow

from .factories import AccountFactory, BudgetFactory, GoalFactory, TransactionFactory

pytestmark = pytest.mark.django_db
D = Decimal


def tx(account, day, amount, category="", pending=False):
    return TransactionFactory(account=account, date=day, amount=D(amount), category=category, pending=pending)


# --- Budgets -----------------------------------------------------------------------------------


def test_budget_against_actual_for_the_period_containing_the_day():
    account = AccountFactory()
    budget = BudgetFactory(
        customer=account.customer, start_date=date(2026, 1, 15), limits={"groceries": "400.00", "dining": "100.00"}
    )
    tx(account, date(2026, 3, 15), "-150.25", "groceries")  # first day of the period
    tx(account, date(2026, 4, 14), "-300.00", "groceries")  # last day of the period
    tx(account, date(2026, 3, 20), "50.25", "groceries")  # a refund
    tx(account, date(2026, 3, 21), "-120.00", "dining", pending=True)  # committed: counts
    tx(account, date(2026, 3, 14), "-10.00", "dining")  # the previous period
    tx(account, date(2026, 3, 22), "-60.00", "transport")  # no limit for it
    tx(account, date(2026, 3, 23), "-500.00", "transfer")  # own money moved
    tx(account, date(2026, 3, 24), "3000.00", "payroll")  # income is not spending
    closed = AccountFactory(connection=account.connection, deleted_at=timezone.now())
    tx(closed, date(2026, 3, 25), "-999.00", "groceries")

    actuals = budget_vs_actual(Budget.objects.prefetch_related("limits").get(), on=date(2026, 3, 20))

    assert actuals.period == DateRange(date(2026, 3, 15), date(2026, 4, 14))
    assert [
        (line.category, line.limit, line.spent, line.remaining, line.percent_used, line.over_budget)
        for line in actuals.lines
    ] == [
        ("dining", D("100.00"), D("120.00"), D("-20.00"), D("120.00"), True),
        ("groceries", D("400.00"), D("400.00"), D("0.00"), D("100.00"), False),
    ]
    assert (actuals.total_limit, actuals.total_spent, actuals.total_remaining, actuals.unbudgeted_spent) == (
        D("500.00"),
        D("520.00"),
        D("-20.00"),
        D("60.00"),
    )
    assert actuals.budget_id == budget.pk


def test_a_budget_that_does_not_run_that_day_has_no_actuals():
    budget = BudgetFactory(start_date=date(2026, 1, 1), end_date=date(2026, 6, 30))

    assert budget_vs_actual(budget, on=date(2025, 12, 31)) is None
    assert budget_vs_actual(budget, on=date(2026, 7, 1)) is None
    assert budget_vs_actual(budget, on=date(2026, 6, 30)).period == DateRange(date(2026, 6, 1), date(2026, 6, 30))


def test_a_period_without_spending_is_all_remaining():
    budget = BudgetFactory(limits={"groceries": "333.33"})

    actuals = budget_vs_actual(budget, on=date(2026, 2, 10))

    line = actuals.lines[0]
    assert (line.spent, line.remaining, line.percent_used) == (D("0.00"), D("333.33"), D("0.00"))
    assert actuals.unbudgeted_spent == D("0.00")


def test_actuals_of_many_budgets_take_one_query(django_assert_num_queries):
    def page(count):
        for _ in range(count):
            account = AccountFactory()
            BudgetFactory(customer=account.customer, limits={"groceries": "100.00"})
            tx(account, date(2026, 2, 3), "-25.00", "groceries")
        return list(Budget.objects.prefetch_related("limits").order_by("pk"))

    few = page(2)
    with django_assert_num_queries(1):
        few_actuals = budget_actuals(few, on=date(2026, 2, 10))
    many = page(10)
    with django_assert_num_queries(1):
        many_actuals = budget_actuals(many, on=date(2026, 2, 10))

    assert len(few_actuals) == 2 and len(many_actuals) == 12
    assert {actuals.lines[0].spent for actuals in many_actuals.values()} == {D("25.00")}


@pytest.mark.parametrize(
    "period, start, end, on, expected",
    [
        ("weekly", date(2026, 3, 4), None, date(2026, 3, 4), (date(2026, 3, 4), date(2026, 3, 10))),
        ("weekly", date(2026, 3, 4), None, date(2026, 3, 25), (date(2026, 3, 25), date(2026, 3, 31))),
        ("weekly", date(2026, 3, 4), date(2026, 3, 27), date(2026, 3, 26), (date(2026, 3, 25), date(2026, 3, 27))),
        ("monthly", date(2026, 1, 31), None, date(2026, 2, 27), (date(2026, 1, 31), date(2026, 2, 27))),
        ("monthly", date(2026, 1, 31), None, date(2026, 2, 28), (date(2026, 2, 28), date(2026, 3, 30))),
        ("monthly", date(2026, 1, 31), None, date(2026, 3, 31), (date(2026, 3, 31), date(2026, 4, 29))),
        ("monthly", date(2026, 1, 1), None, date(2030, 12, 31), (date(2030, 12, 1), date(2030, 12, 31))),
        ("annual", date(2024, 2, 29), None, date(2025, 3, 1), (date(2025, 2, 28), date(2026, 2, 27))),
        ("annual", date(2026, 4, 6), None, date(2027, 4, 5), (date(2026, 4, 6), date(2027, 4, 5))),
    ],
)
def test_budget_periods(period, start, end, on, expected):
    assert budget_period_containing(period=period, start_date=start, end_date=end, on=on) == DateRange(*expected)


# --- Goals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "current, target_date, expected",
    [
        # remaining, percent, months left, monthly saving needed, achieved, overdue
        ("1500.00", date(2026, 7, 15), ("4500.00", "25.00", 6, "750.00", False, False)),
        ("1500.00", date(2026, 7, 16), ("4500.00", "25.00", 7, "642.86", False, False)),  # 642.857... rounded up
        ("1500.00", date(2026, 7, 14), ("4500.00", "25.00", 6, "750.00", False, False)),
        ("2000.00", date(2026, 1, 20), ("4000.00", "33.33", 1, "4000.00", False, False)),
        ("1500.00", date(2026, 1, 15), ("4500.00", "25.00", 1, "4500.00", False, False)),  # due today
        ("1500.00", date(2026, 1, 10), ("4500.00", "25.00", 0, "4500.00", False, True)),  # overdue
        ("6000.00", date(2026, 12, 31), ("0.00", "100.00", 12, "0.00", True, False)),
        ("7000.00", date(2026, 12, 31), ("0.00", "100.00", 12, "0.00", True, False)),  # over-saved
        ("0.00", date(2027, 1, 15), ("6000.00", "0.00", 12, "500.00", False, False)),
    ],
)
def test_goal_progress_and_monthly_saving_needed(current, target_date, expected):
    goal = GoalFactory.build(pk=7, target_amount=D("6000.00"), current_amount=D(current), target_date=target_date)

    progress = goal_progress(goal, as_of=date(2026, 1, 15))

    remaining, percent, months, needed, achieved, overdue = expected
    assert (
        progress.remaining,
        progress.percent_complete,
        progress.months_left,
        progress.monthly_saving_needed,
        progress.achieved,
        progress.overdue,
    ) == (D(remaining), D(percent), months, D(needed), achieved, overdue)


def test_saving_the_rounded_up_amount_reaches_the_goal():
    goal = GoalFactory.build(target_amount=D("1000.00"), current_amount=D("0.00"), target_date=date(2026, 4, 1))

    progress = goal_progress(goal, as_of=date(2026, 1, 1))

    assert (progress.months_left, progress.monthly_saving_needed) == (3, D("333.34"))
    assert progress.monthly_saving_needed * progress.months_left >= goal.target_amount


def test_months_until():
    assert months_until(date(2026, 1, 31), date(2026, 2, 28)) == 1
    assert months_until(date(2026, 1, 15), date(2027, 1, 15)) == 12
    assert months_until(date(2026, 1, 15), date(2026, 1, 14)) == 0


# --- Cash flow ---------------------------------------------------------------------------------


def test_monthly_cash_flow_per_calendar_month(django_assert_num_queries):
    account = AccountFactory()
    tx(account, date(2026, 1, 1), "2000.00", "payroll")
    tx(account, date(2026, 1, 3), "-500.00", "rent")
    tx(account, date(2026, 1, 31), "-25.50", "groceries")
    tx(account, date(2026, 3, 1), "2000.00", "payroll")
    tx(account, date(2026, 3, 2), "-1200.25", "rent")
    tx(account, date(2026, 3, 3), "-300.00", "transfer")  # own money moved: neither
    tx(account, date(2026, 3, 4), "-40.00", "groceries", pending=True)  # not settled
    tx(account, date(2025, 12, 31), "-1.00", "groceries")  # before the window
    tx(AccountFactory(connection=account.connection, deleted_at=timezone.now()), date(2026, 3, 5), "-9.00")

    with django_assert_num_queries(1):
        flow = monthly_cash_flow(customer_id=account.customer_id, months=3, as_of=date(2026, 3, 20))

    assert flow == [
        MonthlyCashFlow(date(2026, 1, 1), D("2000.00"), D("525.50"), D("1474.50"), True),
        MonthlyCashFlow(date(2026, 2, 1), D("0.00"), D("0.00"), D("0.00"), True),
        MonthlyCashFlow(date(2026, 3, 1), D("2000.00"), D("1200.25"), D("799.75"), False),
    ]


def test_full_months_before():
    assert full_months_before(date(2026, 5, 17), 3) == DateRange(date(2026, 2, 1), date(2026, 4, 30))
    assert full_months_before(date(2026, 1, 1), 1) == DateRange(date(2025, 12, 1), date(2025, 12, 31))
