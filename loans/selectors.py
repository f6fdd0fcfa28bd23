"""Reads shared by the admin, the API, the exports and the commands. Each is one or two queries,
whatever the number of rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    F,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from ledger import selectors as ledger_selectors
from ledger.models import Category, OpenItem
from loanproject.core.money import ZERO, to_cents

from .models import (
    DRIVER_PARTY_TYPE,
    Driver,
    DriverLoan,
    Installment,
    InstallmentPostingRun,
    InstallmentStatus,
    LoanStatus,
    PostingFailure,
    PostingRunChunk,
)
from .periods import week_containing
from .services.targets import due_installments

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

MONEY = DecimalField(max_digits=16, decimal_places=2)


def _sum(expression, **kwargs) -> Coalesce:
    return Coalesce(Sum(expression, **kwargs), Value(ZERO), output_field=MONEY)


def loans_for_listing() -> QuerySet[DriverLoan]:
    return DriverLoan.objects.select_related("driver", "lease", "created_by")


MAX_LISTED_ERRORS = 100


def _per_run(rows: QuerySet, aggregate, *, link: str = "run", default=0):
    """`aggregate` over the rows of the outer run: a correlated subquery on an indexed foreign key."""
    rows = rows.filter(**{link: OuterRef("pk")}).order_by().values(link)
    return Coalesce(Subquery(rows.annotate(value=aggregate).values("value")), default)


def posting_runs() -> QuerySet[InstallmentPostingRun]:
    """Runs with who started them and what they did, counted from rows in the same query (and
    their first errors in one more): `posted` and `total_amount` from the installments linked to
    the run, `failed` and `locked` from its failures, `chunks_done`, `planned_done` (the
    installments its finished chunks planned) and `chunks_recovered` (how many the recovery sweep
    posted) from its chunks; the model derives `processed` and `skipped` from them."""
    chunks, failures = PostingRunChunk.objects.all(), PostingFailure.objects.all()
    finished = chunks.filter(finished_at__isnull=False)
    errors = failures.filter(locked=False).select_related("installment__loan").order_by("installment_id")
    return (
        InstallmentPostingRun.objects.select_related("started_by")
        .annotate(  # type: ignore[no-redef]  # the model declares these figures' types, for its derived properties
            posted=_per_run(Installment.objects.all(), Count("pk"), link="posting_run"),
            total_amount=_per_run(
                Installment.objects.all(), Sum("amount"), link="posting_run", default=Value(ZERO, MONEY)
            ),
            failed=_per_run(failures.filter(locked=False), Count("pk")),
            locked=_per_run(failures.filter(locked=True), Count("pk")),
            chunks_done=_per_run(finished, Count("pk")),
            planned_done=_per_run(finished, Sum("planned")),
            chunks_recovered=_per_run(chunks.filter(recovered=True), Count("pk")),
        )
        .prefetch_related(Prefetch("failures", queryset=errors[:MAX_LISTED_ERRORS], to_attr="error_rows"))
    )


class PaymentFigures(TypedDict):
    outstanding: Decimal
    paid: Decimal
    payment_state: str


if TYPE_CHECKING:
    InstallmentWithPayments = WithAnnotations[Installment, PaymentFigures]


def installments_with_payments() -> QuerySet[InstallmentWithPayments]:
    """Installments with `outstanding`, `paid` and `payment_state` read from their open items.

    payment_state: scheduled / cancelled (not posted), unpaid, partially_paid, paid.
    """
    item = OpenItem.objects.filter(entry_id=OuterRef("posted_entry_id"))
    return (
        Installment.objects.annotate(
            outstanding=Coalesce(Subquery(item.values("outstanding")[:1]), F("amount"), output_field=MONEY)
        )
        .annotate(
            paid=Case(
                When(status=InstallmentStatus.POSTED, then=F("amount") - F("outstanding")),
                default=Value(ZERO),
                output_field=MONEY,
            ),
            payment_state=Case(
                When(~Q(status=InstallmentStatus.POSTED), then=F("status")),
                When(outstanding=0, then=Value("paid")),
                When(outstanding=F("amount"), then=Value("unpaid")),
                default=Value("partially_paid"),
                output_field=CharField(),
            ),
        )
        .order_by("loan_id", "sequence")
    )


@dataclass(frozen=True)
class ScheduleLine:
    status: str
    installments: int
    principal: Decimal
    interest: Decimal
    amount: Decimal
    first_due: date | None
    last_due: date | None


@dataclass(frozen=True)
class ScheduleSummary:
    """A loan's schedule in a few lines: per status, in lifecycle order; what its posted
    installments still owe (their open items); the next installment to post."""

    lines: list[ScheduleLine]
    total: ScheduleLine
    posted_outstanding: Decimal
    posted_paid: Decimal
    next_due: Installment | None


def schedule_summary(*, loan_id: int) -> ScheduleSummary:
    """Three indexed queries whatever the length of the schedule (up to 520 installments)."""
    installments = Installment.objects.filter(loan_id=loan_id).order_by()
    rows = {
        row["status"]: row
        for row in installments.values("status").annotate(
            count=Count("pk"),
            principal=_sum("principal"),
            interest=_sum("interest"),
            amount=_sum("amount"),
            first_due=Min("due_date"),
            last_due=Max("due_date"),
        )
    }
    lines = [
        ScheduleLine(
            status,
            rows[status]["count"],
            rows[status]["principal"],
            rows[status]["interest"],
            rows[status]["amount"],
            rows[status]["first_due"],
            rows[status]["last_due"],
        )
        for status in InstallmentStatus.values
        if status in rows
    ]
    total = ScheduleLine(
        "total",
        sum(line.installments for line in lines),
        sum((line.principal for line in lines), ZERO),
        sum((line.interest for line in lines), ZERO),
        sum((line.amount for line in lines), ZERO),
        min((line.first_due for line in lines if line.first_due), default=None),
        max((line.last_due for line in lines if line.last_due), default=None),
    )
    posted_entries = installments.filter(status=InstallmentStatus.POSTED).values("posted_entry_id")
    items = OpenItem.objects.filter(entry_id__in=posted_entries).aggregate(
        amount=_sum("amount"), outstanding=_sum("outstanding")
    )
    next_due = installments.filter(status=InstallmentStatus.SCHEDULED).order_by("sequence").first()
    return ScheduleSummary(
        lines=lines,
        total=total,
        posted_outstanding=to_cents(items["outstanding"]),
        posted_paid=to_cents(items["amount"] - items["outstanding"]),
        next_due=next_due,
    )


def unposted_installments(
    *, period_start: date, period_end: date, driver_id: int | None = None
) -> QuerySet[Installment]:
    """What the weekly posting of the period would post (overdue ones included), in due order;
    only the driver's if `driver_id` is given."""
    installments = due_installments(period_end=period_end)
    if driver_id is not None:
        installments = installments.filter(loan__driver_id=driver_id)
    return installments.select_related("loan", "loan__driver").order_by("due_date", "loan__loan_number", "sequence")


class PortfolioFigures(TypedDict):
    billed_principal: Decimal
    paid: Decimal
    principal_repaid: Decimal
    billed_outstanding: Decimal
    outstanding_principal: Decimal
    unbilled_principal: Decimal


def loan_portfolio(*, statuses: list[str] | None = None) -> QuerySet[WithAnnotations[DriverLoan, PortfolioFigures]]:
    """Per loan: principal billed, principal repaid (payments pay interest first), principal still
    outstanding, what is billed and unpaid, and what is still to be billed."""
    item = "installments__posted_entry__open_items__"
    posted = Q(installments__status=InstallmentStatus.POSTED)
    paid_on_item = F(f"{item}amount") - F(f"{item}outstanding")
    loans = DriverLoan.objects.select_related("driver")
    if statuses:
        loans = loans.filter(status__in=statuses)
    return (
        loans.annotate(
            billed_principal=_sum("installments__principal", filter=posted),
            paid=_sum(paid_on_item, filter=posted),
            principal_repaid=_sum(
                Greatest(paid_on_item - F("installments__interest"), Value(ZERO), output_field=MONEY), filter=posted
            ),
            billed_outstanding=_sum(f"{item}outstanding", filter=posted),
        )
        .annotate(
            outstanding_principal=F("principal") - F("principal_repaid"),
            unbilled_principal=F("principal") - F("billed_principal"),
        )
        .order_by("driver__full_name", "loan_number")
    )


@dataclass(frozen=True)
class DriverPortfolio:
    driver_id: int
    driver_name: str
    tlc_license_number: str
    loans: int
    principal: Decimal
    outstanding_principal: Decimal
    billed_outstanding: Decimal


def portfolio_by_driver(*, statuses: list[str] | None = None) -> list[DriverPortfolio]:
    totals: dict[int, dict] = {}
    for loan in loan_portfolio(statuses=statuses):
        row = totals.setdefault(
            loan.driver_id,
            {
                "name": loan.driver.full_name,
                "tlc": loan.driver.tlc_license_number,
                "loans": 0,
                "principal": ZERO,
                "outstanding": ZERO,
                "billed": ZERO,
            },
        )
        row["loans"] += 1
        row["principal"] += loan.principal
        row["outstanding"] += to_cents(loan.outstanding_principal)
        row["billed"] += to_cents(loan.billed_outstanding)
    return [
        DriverPortfolio(
            driver_id, row["name"], row["tlc"], row["loans"], row["principal"], row["outstanding"], row["billed"]
        )
        for driver_id, row in sorted(totals.items(), key=lambda pair: (pair[1]["name"], pair[0]))
    ]


@dataclass(frozen=True)
class WeekTotals:
    week_start: date
    installments: int
    principal: Decimal
    interest: Decimal
    amount: Decimal


def posted_totals_per_week(*, date_from: date, date_to: date) -> list[WeekTotals]:
    """Posted installments by the Sunday-to-Saturday week they fell due in."""
    per_day = (
        Installment.objects.filter(status=InstallmentStatus.POSTED, due_date__gte=date_from, due_date__lte=date_to)
        .order_by()
        .values("due_date")
        .annotate(count=Count("pk"), principal=_sum("principal"), interest=_sum("interest"), amount=_sum("amount"))
    )
    weeks: dict[date, list] = defaultdict(lambda: [0, ZERO, ZERO, ZERO])
    for row in per_day:
        totals = weeks[week_containing(row["due_date"])[0]]
        totals[0] += row["count"]
        totals[1] += to_cents(row["principal"])
        totals[2] += to_cents(row["interest"])
        totals[3] += to_cents(row["amount"])
    return [WeekTotals(start, *weeks[start]) for start in sorted(weeks)]


def driver_loans_aging(*, as_of: date) -> list[dict]:
    """Open LOANS items per driver by days past due (current, 1-7, 8-30, 31-60, 60+)."""
    rows = ledger_selectors.open_items_aging(as_of=as_of, party_type=DRIVER_PARTY_TYPE, category=Category.LOANS)
    drivers = Driver.objects.in_bulk([int(row["party_id"]) for row in rows])
    for row in rows:
        driver = drivers.get(int(row["party_id"]))
        row["driver_id"] = int(row["party_id"])
        row["driver_name"] = driver.full_name if driver else ""
        row["tlc_license_number"] = driver.tlc_license_number if driver else ""
    return rows


def portfolio_totals() -> dict[str, Decimal | int]:
    """Active loans: how many, their principal and the principal still outstanding (one query)."""
    totals = loan_portfolio(statuses=[LoanStatus.ACTIVE]).aggregate(
        loans=Count("pk"), principal=Sum("principal"), outstanding=Sum("outstanding_principal")
    )
    return {
        "loans": totals["loans"],
        "principal": to_cents(totals["principal"] or ZERO),
        "outstanding": to_cents(totals["outstanding"] or ZERO),
    }
