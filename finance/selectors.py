"""Reads shared by the admin, the API, the services and other apps (the scoring agents).

Every figure counts only open accounts (a closed account and its transactions drop out) and
follows the sign convention of models.Transaction: positive amounts are money in, negative are
money out. Money is Decimal, rounded to cents with ROUND_HALF_EVEN unless a docstring says why not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    Expression,
    F,
    Func,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, JSONObject, TruncMonth
from django.db.models.lookups import GreaterThan, Lookup
from django.utils import timezone

from applications.models import Customer, Partner
from loanproject.core.money import CENT, ZERO, MoneyField, to_cents
from loanproject.core.scoping import visible_to

from .locks import scoped
from .models import (
    ASSET_TYPES,
    LIABILITY_TYPES,
    Account,
    BankConnection,
    Budget,
    Document,
    Goal,
    NetWorthSnapshot,
    Transaction,
)
from .periods import DateRange, add_months, budget_period_containing, first_of_month, full_months_before, months_until
from .validators import INCOME_CATEGORIES, TRANSFER_CATEGORIES

HUNDRED = Decimal("100")


def base_currency() -> str:
    return getattr(settings, "FINANCE_BASE_CURRENCY", "USD")


def _today() -> date:
    return timezone.localdate()


# --- What a partner (or staff, partner=None) may see -----------------------------------------


def connections_visible_to(partner: Partner | None) -> QuerySet[BankConnection]:
    # The token is never needed for listing: not loading it means never decrypting it.
    return scoped(BankConnection.objects.defer("access_token"), partner)


def accounts_visible_to(partner: Partner | None, *, include_closed: bool = False) -> QuerySet[Account]:
    queryset = scoped(Account.objects.all(), partner)
    return queryset if include_closed else queryset.filter(deleted_at__isnull=True)


def transactions_visible_to(partner: Partner | None) -> QuerySet[Transaction]:
    # The transaction's own partner column (kept equal to its customer's by the database): the
    # partner's rows come from an index that starts with it, not through a join to the customer.
    return visible_to(Transaction.objects.filter(account__deleted_at__isnull=True), partner)


def budgets_visible_to(partner: Partner | None) -> QuerySet[Budget]:
    return scoped(Budget.objects.prefetch_related("limits"), partner)


def goals_visible_to(partner: Partner | None) -> QuerySet[Goal]:
    return scoped(Goal.objects.all(), partner)


def snapshots_visible_to(partner: Partner | None) -> QuerySet[NetWorthSnapshot]:
    return scoped(NetWorthSnapshot.objects.all(), partner)


def documents_visible_to(partner: Partner | None) -> QuerySet[Document]:
    return scoped(Document.objects.all(), partner)


# --- Income ------------------------------------------------------------------------------------


def estimated_monthly_incomes(
    *, customer_ids: Iterable[int], as_of: date | None = None, months: int = 3
) -> dict[int, Decimal]:
    """Average monthly income of many customers, in one query.

    Income is the settled (not pending) inflows (amount > 0) categorised as income (one of
    validators.INCOME_CATEGORIES: income, payroll, salary, wages, pension, benefits,
    self_employment) on open accounts, dated in the `months` full calendar months before
    as_of's month (the current month is unfinished and never counts). The total is divided by
    `months` and rounded to cents (half-even).

    A customer with at least one settled transaction in that window is in the result, with
    Decimal("0.00") if none of it was income. A customer with no transaction there (no bank
    data, or only older data) is absent: unknown is not zero.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    ids = {int(customer_id) for customer_id in customer_ids}
    if not ids:
        return {}
    window = full_months_before(as_of or _today(), months)
    rows = (
        Transaction.objects.filter(
            customer_id__in=ids,
            date__gte=window.start,
            date__lte=window.end,
            pending=False,
            account__deleted_at__isnull=True,
        )
        .order_by()
        .values("customer_id")
        .annotate(
            income=Coalesce(
                Sum("amount", filter=Q(amount__gt=0, category__in=sorted(INCOME_CATEGORIES))),
                Value(ZERO),
                output_field=MoneyField(),
            )
        )
        .values_list("customer_id", "income")
    )
    return {customer_id: to_cents(income / months) for customer_id, income in rows}


def estimated_monthly_income(*, customer_id: int, as_of: date | None = None, months: int = 3) -> Decimal | None:
    """One customer's estimated_monthly_incomes(); None when there is no transaction to go on."""
    return estimated_monthly_incomes(customer_ids=[customer_id], as_of=as_of, months=months).get(customer_id)


# --- Cash flow ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyCashFlow:
    month: date  # first day of the month
    inflow: Decimal  # money in, >= 0
    outflow: Decimal  # money out, as a positive number
    net: Decimal  # inflow - outflow
    complete: bool  # False for the month that contains as_of


def monthly_cash_flow(*, customer_id: int, months: int = 6, as_of: date | None = None) -> list[MonthlyCashFlow]:
    """Money in and out per calendar month, oldest first, for the `months` months ending with
    as_of's month (which is marked incomplete). Settled transactions only; transfers between the
    customer's own accounts (TRANSFER_CATEGORIES) are neither. Months without any are zeros."""
    if months < 1:
        raise ValueError("months must be at least 1")
    as_of = as_of or _today()
    last_month = first_of_month(as_of)
    first_month = add_months(last_month, -(months - 1))
    rows = (
        Transaction.objects.filter(
            customer_id=customer_id,
            date__gte=first_month,
            date__lt=add_months(last_month, 1),
            pending=False,
            account__deleted_at__isnull=True,
        )
        .exclude(category__in=sorted(TRANSFER_CATEGORIES))
        .order_by()
        .annotate(month=TruncMonth("date"))
        .values("month")
        .annotate(
            inflow=Coalesce(Sum("amount", filter=Q(amount__gt=0)), Value(ZERO), output_field=MoneyField()),
            outflow=Coalesce(Sum("amount", filter=Q(amount__lt=0)), Value(ZERO), output_field=MoneyField()),
        )
        .values_list("month", "inflow", "outflow")
    )
    by_month = {month: (inflow, -outflow) for month, inflow, outflow in rows}
    result = []
    for offset in range(months):
        month = add_months(first_month, offset)
        inflow, outflow = by_month.get(month, (ZERO, ZERO))
        result.append(
            MonthlyCashFlow(
                month=month,
                inflow=to_cents(inflow),
                outflow=to_cents(outflow),
                net=to_cents(inflow - outflow),
                complete=month != last_month,
            )
        )
    return result


# --- Net worth ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetWorthFigures:
    """One row of net_worth_rows(): the fields of a NetWorthSnapshot, less its day and time."""

    customer_id: int
    currency: str
    total_assets: Decimal
    total_liabilities: Decimal
    net_worth: Decimal
    assets_breakdown: dict[str, str]  # {"checking": "1000.00", ...}
    liabilities_breakdown: dict[str, str]
    other_currencies: dict[str, dict[str, str]]  # {"EUR": {"assets": "700.00", "liabilities": "0.00"}}
    accounts_count: int


class _ByCurrency(Subquery):
    """A subquery's rows (columns `currency` and `amounts`) as one JSON object keyed by currency:
    a second level of aggregation, which the ORM lacks."""

    template = (
        "(SELECT jsonb_object_agg(per_currency.currency, per_currency.amounts) FROM (%(subquery)s) AS per_currency)"
    )
    output_field = JSONField()


class _IdIn(Lookup):
    """`id = ANY(%s::bigint[])`: the ids travel as one array however many there are (an IN list
    of thousands costs more to build and plan than the query takes to run). The cast keeps the
    comparison bigint to bigint, which PostgreSQL hashes."""

    lookup_name = "id_in"
    prepare_rhs = False

    def as_sql(self, compiler, connection) -> tuple[str, tuple]:
        column, params = self.process_lhs(compiler, connection)
        return f"{column} = ANY(%s::bigint[])", (*params, self.rhs)


def _money_text(amount: Expression) -> Cast:
    # A sum of numeric(14, 2) keeps its two places as text ("5.00"): JSON amounts are strings, never floats.
    return Cast(amount, TextField())


def net_worth_rows(*, customer_ids: Iterable[int] | None = None, currency: str | None = None) -> QuerySet:
    """The current net worth of each customer (of every one, or of the given ones), one row each
    (the fields of NetWorthFigures), in one query: the one definition the API, the admin and
    the snapshots share.

    Assets are the balances of open checking, savings and investment accounts (an overdraft
    counts negative); liabilities the balances owed on open credit and loan accounts. Only
    accounts in `currency` (the base currency) are totalled and broken down by type; the others
    are totalled per currency in `other_currencies`, never converted. A customer without open
    accounts has zeros.
    """
    currency = currency or base_currency()
    is_open = Q(finance_accounts__deleted_at__isnull=True)
    in_base = is_open & Q(finance_accounts__currency=currency)
    elsewhere = is_open & ~Q(finance_accounts__currency=currency)

    def balances(condition: Q) -> Sum:
        return Sum("finance_accounts__current_balance", filter=condition)

    def total(types: Iterable[str]) -> Coalesce:
        return Coalesce(balances(in_base & Q(finance_accounts__type__in=types)), Value(ZERO), output_field=MoneyField())

    def breakdown(types: Iterable[str]) -> Func:
        by_type = {str(kind): _money_text(balances(in_base & Q(finance_accounts__type=kind))) for kind in types}
        return Func(JSONObject(**by_type), function="jsonb_strip_nulls", output_field=JSONField())

    in_other_currencies = (
        Account.objects.filter(customer=OuterRef("pk"), deleted_at__isnull=True)
        .exclude(currency=currency)
        .order_by()
        .values("currency")
        .annotate(
            amounts=JSONObject(
                **{
                    side: _money_text(Coalesce(Sum("current_balance", filter=Q(type__in=types)), Value(ZERO)))
                    for side, types in (("assets", ASSET_TYPES), ("liabilities", LIABILITY_TYPES))
                }
            )
        )
    )
    customers = Customer.objects.order_by()
    if customer_ids is not None:
        customers = customers.filter(_IdIn(F("pk"), sorted({int(customer_id) for customer_id in customer_ids})))
    return customers.values(customer_id=F("pk")).annotate(
        currency=Value(currency),
        total_assets=total(ASSET_TYPES),
        total_liabilities=total(LIABILITY_TYPES),
        net_worth=F("total_assets") - F("total_liabilities"),
        assets_breakdown=breakdown(ASSET_TYPES),
        liabilities_breakdown=breakdown(LIABILITY_TYPES),
        # CASE runs the subquery only for the few customers who hold such accounts.
        other_currencies=Case(
            When(GreaterThan(Count("finance_accounts", filter=elsewhere), 0), then=_ByCurrency(in_other_currencies)),
            default=Value({}, output_field=JSONField()),
        ),
        accounts_count=Count("finance_accounts", filter=is_open),
    )


def net_worth_by_customer(*, customer_ids: Iterable[int]) -> dict[int, NetWorthFigures]:
    """net_worth_rows() of the given customers that have open accounts; the others are absent."""
    rows = net_worth_rows(customer_ids=customer_ids).filter(accounts_count__gt=0)
    return {row["customer_id"]: NetWorthFigures(**row) for row in rows}


# --- Budgets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    category: str
    limit: Decimal
    spent: Decimal  # outflows minus refunds in the category
    remaining: Decimal  # limit - spent; negative when over budget
    percent_used: Decimal  # spent / limit * 100, two decimals

    @property
    def over_budget(self) -> bool:
        return self.spent > self.limit


@dataclass(frozen=True)
class BudgetActuals:
    budget_id: int
    period: DateRange
    lines: list[BudgetLine]
    total_limit: Decimal
    total_spent: Decimal
    total_remaining: Decimal
    unbudgeted_spent: Decimal  # outflows in categories without a limit (transfers excluded)


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    return (part * HUNDRED / whole).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _budget_period(budget: Budget, on: date) -> DateRange | None:
    return budget_period_containing(period=budget.period, start_date=budget.start_date, end_date=budget.end_date, on=on)


def budget_actuals(budgets: Iterable[Budget], *, on: date | None = None) -> dict[int, BudgetActuals | None]:
    """Budget against actual spending, per category, for the period of each budget that
    contains `on` (today by default); None for a budget that does not run that day.

    One query for any number of budgets (a UNION ALL of one aggregate per budget), so a page of
    budgets costs the same whatever its size. Spending is settled and pending outflows (a
    pending card payment is money already committed) minus refunds in the same category, on
    open accounts. Budget limits come from `budget.limits` (prefetch them).
    """
    on = on or _today()
    budgets = list(budgets)
    periods = {budget.pk: period for budget in budgets if (period := _budget_period(budget, on)) is not None}
    parts = [
        Transaction.objects.filter(
            customer_id=budget.customer_id,
            date__gte=periods[budget.pk].start,
            date__lte=periods[budget.pk].end,
            account__deleted_at__isnull=True,
        )
        .exclude(category__in=sorted(TRANSFER_CATEGORIES))
        .order_by()
        .values("category")
        .annotate(
            budget_ref=Value(budget.pk),
            net=Sum("amount"),
            outflow=Coalesce(Sum("amount", filter=Q(amount__lt=0)), Value(ZERO), output_field=MoneyField()),
        )
        .values_list("budget_ref", "category", "net", "outflow")
        for budget in budgets
        if budget.pk in periods
    ]
    sums: dict[int, dict[str, tuple[Decimal, Decimal]]] = defaultdict(dict)
    if parts:
        query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        for budget_id, category, net, outflow in query:
            sums[budget_id][category] = (to_cents(net), to_cents(outflow))
    result: dict[int, BudgetActuals | None] = {}
    for budget in budgets:
        period = periods.get(budget.pk)
        if period is None:
            result[budget.pk] = None
            continue
        by_category = sums.get(budget.pk, {})
        lines = []
        for limit in sorted(budget.limits.all(), key=lambda row: row.category):
            net, _ = by_category.get(limit.category, (ZERO, ZERO))
            spent = -net
            lines.append(
                BudgetLine(
                    category=limit.category,
                    limit=limit.amount,
                    spent=spent,
                    remaining=limit.amount - spent,
                    percent_used=_percent(spent, limit.amount),
                )
            )
        budgeted = {line.category for line in lines}
        total_limit = sum((line.limit for line in lines), ZERO)
        total_spent = sum((line.spent for line in lines), ZERO)
        result[budget.pk] = BudgetActuals(
            budget_id=budget.pk,
            period=period,
            lines=lines,
            total_limit=total_limit,
            total_spent=total_spent,
            total_remaining=total_limit - total_spent,
            unbudgeted_spent=-sum(
                (outflow for category, (_, outflow) in by_category.items() if category not in budgeted), ZERO
            ),
        )
    return result


def budget_vs_actual(budget: Budget, *, on: date | None = None) -> BudgetActuals | None:
    return budget_actuals([budget], on=on)[budget.pk]


# --- Goals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalProgress:
    goal_id: int
    target_amount: Decimal
    current_amount: Decimal
    remaining: Decimal  # never negative
    percent_complete: Decimal  # 0-100, two decimals
    months_left: int  # monthly contributions still possible; 0 once the target date passed
    monthly_saving_needed: Decimal
    achieved: bool
    overdue: bool  # target date passed and not achieved


def goal_progress(goal: Goal, *, as_of: date | None = None) -> GoalProgress:
    """How far the goal is and what must be saved each month to reach it on time.

    The monthly saving needed is the remaining amount over the months left (a started month
    counts: periods.months_until), rounded UP to the cent: rounding half-even could leave the
    goal a cent short. Past the target date the whole remaining amount is due now.
    """
    as_of = as_of or _today()
    remaining = max(goal.target_amount - goal.current_amount, ZERO)
    achieved = remaining == ZERO
    months_left = months_until(as_of, goal.target_date)
    if achieved:
        needed = ZERO
    elif months_left == 0:
        needed = remaining
    else:
        needed = (remaining / months_left).quantize(CENT, rounding=ROUND_CEILING)
    return GoalProgress(
        goal_id=goal.pk,
        target_amount=goal.target_amount,
        current_amount=goal.current_amount,
        remaining=remaining,
        percent_complete=min(_percent(goal.current_amount, goal.target_amount), HUNDRED),
        months_left=months_left,
        monthly_saving_needed=needed,
        achieved=achieved,
        overdue=not achieved and goal.target_date < as_of,
    )


# --- A customer's finances at a glance (admin) ------------------------------------------------


@dataclass(frozen=True)
class FinanceSummary:
    customer_id: int
    connections: int
    open_accounts: list[Account]
    net_worth: NetWorthFigures | None
    latest_snapshot: NetWorthSnapshot | None
    estimated_monthly_income: Decimal | None
    cash_flow: list[MonthlyCashFlow]
    transactions: int
    budgets: int
    goals: list[tuple[Goal, GoalProgress]]
    documents: int


def customer_finance_summary(*, customer_id: int, as_of: date | None = None) -> FinanceSummary:
    """Everything the customer page shows about their finances, in a fixed number of queries."""
    as_of = as_of or _today()
    # Like every figure, the count leaves out closed accounts' transactions.
    counts = Transaction.objects.filter(customer_id=customer_id, account__deleted_at__isnull=True).aggregate(
        count=Count("pk")
    )
    goals = list(Goal.objects.filter(customer_id=customer_id).order_by("target_date", "pk"))
    return FinanceSummary(
        customer_id=customer_id,
        connections=BankConnection.objects.filter(customer_id=customer_id).count(),
        open_accounts=list(
            Account.objects.filter(customer_id=customer_id, deleted_at__isnull=True)
            .select_related("connection")
            .defer("connection__access_token")
            .order_by("type", "name")
        ),
        net_worth=net_worth_by_customer(customer_ids=[customer_id]).get(customer_id),
        latest_snapshot=NetWorthSnapshot.objects.filter(customer_id=customer_id).order_by("-date").first(),
        estimated_monthly_income=estimated_monthly_income(customer_id=customer_id, as_of=as_of),
        cash_flow=monthly_cash_flow(customer_id=customer_id, months=3, as_of=as_of),
        transactions=counts["count"],
        budgets=Budget.objects.filter(customer_id=customer_id).count(),
        goals=[(goal, goal_progress(goal, as_of=as_of)) for goal in goals],
        documents=Document.objects.filter(customer_id=customer_id).count(),
    )
