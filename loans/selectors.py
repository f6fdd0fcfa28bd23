"""Reads shared by the admin, the API, the exports and the commands. Each is one or two queries,
whatever the number of rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest

from ledger import selectors as ledger_selectors
from ledger.models import Category, OpenItem, OpenItemStatus
from loanproject.core import keyset
from loanproject.core.errors import NotFound
from loanproject.core.money import ZERO, to_cents

from .collections_models import COLLECTOR_PERMISSION, DELINQUENT, CollectionCase, CollectionNote, PromiseToPay
from .models import (
    DRIVER_PARTY_TYPE,
    ChunkKind,
    DelinquencyClass,
    Driver,
    DriverLoan,
    Installment,
    InstallmentPostingRun,
    InstallmentStatus,
    LeaseCharge,
    LeaseFeeFailure,
    LoanDelinquency,
    LoanDelinquencyChange,
    LoanPayoff,
    LoanPrepayment,
    LoanProduct,
    LoanRecovery,
    LoanStatus,
    LoanWriteOff,
    PostingFailure,
    PostingRunChunk,
    ScheduleVersion,
)
from .periods import week_containing
from .services.targets import due_installments

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_stubs_ext import WithAnnotations

MONEY = DecimalField(max_digits=16, decimal_places=2)


def _sum(expression, **kwargs) -> Coalesce:
    return Coalesce(Sum(expression, **kwargs), Value(ZERO), output_field=MONEY)


def loan_id_by_number(loan_number: str) -> int:
    """The id of the loan the staff API addresses as /loans/{loan_number}/ (NotFound: a 404)."""
    loan_id = DriverLoan.objects.filter(loan_number=loan_number).values_list("pk", flat=True).first()
    if loan_id is None:
        raise NotFound("No such loan.")
    return loan_id


def loans_for_listing() -> QuerySet[DriverLoan]:
    return DriverLoan.objects.select_related("driver", "lease", "created_by", "product")


def current_products() -> QuerySet[LoanProduct]:
    """The products loans can be booked from: the current version of each code."""
    return LoanProduct.objects.filter(is_current=True).select_related("created_by").order_by("code")


MAX_LISTED_ERRORS = 100


def _per_run(rows: QuerySet, aggregate, *, link: str = "run", default=0):
    """`aggregate` over the rows of the outer run: a correlated subquery on an indexed foreign key."""
    rows = rows.filter(**{link: OuterRef("pk")}).order_by().values(link)
    return Coalesce(Subquery(rows.annotate(value=aggregate).values("value")), default)


def posting_runs() -> QuerySet[InstallmentPostingRun]:
    """Runs with who started them and what they did, counted from rows in the same query (and
    their first errors in one more): `posted` and `total_amount` from the installments linked to
    the run, `failed` and `locked` from its failures, `chunks_done`, `planned_done` (the
    installments its finished chunks planned), `lease_fees`, `lease_fee_amount` (its LeaseCharge
    rows), `lease_fees_failed` and `chunks_recovered` (how many the recovery sweep
    posted) from its chunks; the model derives `processed` and `skipped` from them."""
    chunks, failures = PostingRunChunk.objects.all(), PostingFailure.objects.all()
    finished = chunks.filter(finished_at__isnull=False)
    finished_installments = finished.filter(kind=ChunkKind.INSTALLMENTS)
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
            planned_done=_per_run(finished_installments, Sum("planned")),
            chunks_recovered=_per_run(chunks.filter(recovered=True), Count("pk")),
            lease_fees=_per_run(LeaseCharge.objects.all(), Count("pk"), link="posting_run"),
            lease_fee_amount=_per_run(
                LeaseCharge.objects.all(), Sum("amount"), link="posting_run", default=Value(ZERO, MONEY)
            ),
            lease_fees_failed=_per_run(LeaseFeeFailure.objects.all(), Count("pk")),
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


def unposted_installments(
    *, period_start: date, period_end: date, driver_id: int | None = None
) -> QuerySet[Installment]:
    """What the weekly posting of the period would post (overdue ones included), in due order and
    then booking order (due date, id: installment_unposted_due_idx, so a page is an index range);
    only the driver's if `driver_id` is given."""
    installments = due_installments(period_end=period_end)
    if driver_id is not None:
        installments = installments.filter(loan__driver_id=driver_id)
    return installments.select_related("loan", "loan__driver").order_by("due_date", "id")


UNPOSTED_KEY = ("due_date", "id")


class PortfolioFigures(TypedDict):
    billed_principal: Decimal
    paid: Decimal
    principal_repaid: Decimal
    billed_outstanding: Decimal
    outstanding_principal: Decimal
    unbilled_principal: Decimal


def _portfolio_sums(prefix: str = "", *, posted: Q | None = None) -> dict[str, Coalesce]:
    """The posted installments' sums behind a loan's figures, from `prefix` (the path to the
    installments) over their open items: written once for the per-loan figures and the totals."""
    item = f"{prefix}posted_entry__open_items__"
    paid_on_item = F(f"{item}amount") - F(f"{item}outstanding")
    return {
        "billed_principal": _sum(f"{prefix}principal", filter=posted),
        "paid": _sum(paid_on_item, filter=posted),
        "principal_repaid": _sum(
            Greatest(paid_on_item - F(f"{prefix}interest"), Value(ZERO), output_field=MONEY), filter=posted
        ),
        "billed_outstanding": _sum(f"{item}outstanding", filter=posted),
    }


def loan_portfolio(*, statuses: list[str] | None = None) -> QuerySet[WithAnnotations[DriverLoan, PortfolioFigures]]:
    """Per loan: principal billed, principal repaid (payments pay interest first), principal still
    outstanding, what is billed and unpaid, and what is still to be billed (the live schedule's
    scheduled principal: prepayments and capitalised interest included). One grouped query over
    every loan's installments: for totals (portfolio_totals), where a prepayment's principal, billed
    and repaid at once, counts in neither; a report page reads `loan_portfolio_page`, which sums
    only the page's loans and adds what was billed outside the installments."""
    loans = DriverLoan.objects.select_related("driver")
    if statuses:
        loans = loans.filter(status__in=statuses)
    sums = _portfolio_sums("installments__", posted=Q(installments__status=InstallmentStatus.POSTED))
    return (
        loans.annotate(
            billed_principal=sums["billed_principal"],
            paid=sums["paid"],
            principal_repaid=sums["principal_repaid"],
            billed_outstanding=sums["billed_outstanding"],
            unbilled_principal=_sum(
                "installments__principal", filter=Q(installments__status=InstallmentStatus.SCHEDULED)
            ),
        )
        .annotate(outstanding_principal=F("unbilled_principal") + F("billed_principal") - F("principal_repaid"))
        .order_by("driver__full_name", "loan_number")
    )


NO_FIGURES = dict.fromkeys(("billed_principal", "paid", "principal_repaid", "billed_outstanding"), ZERO)


def _per_loan(queryset: QuerySet, expression: object) -> Coalesce:
    """A correlated sum of `queryset` (filtered to the outer loan) grouped by loan."""
    sums = queryset.filter(loan=OuterRef("pk")).order_by().values("loan").annotate(total=Sum(expression))
    return Coalesce(Subquery(sums.values("total")), Value(ZERO), output_field=MONEY)


def _loan_extras(loan_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """Per loan, what the posted installments do not tell (one query, a few index reads per loan):
    the principal still scheduled, and what prepayments and a payoff billed outside the
    installments: their principal, what was paid of them (a payoff's interest first), what they
    still owe."""
    prepayments, payoffs = LoanPrepayment.objects.all(), LoanPayoff.objects.filter(payoff_item__isnull=False)
    prepaid_item = "entry__open_items__"
    payoff_paid = F("payoff_item__amount") - F("payoff_item__outstanding")
    rows = DriverLoan.objects.filter(pk__in=loan_ids).values_list(
        "pk",
        _per_loan(Installment.objects.filter(status=InstallmentStatus.SCHEDULED), "principal"),
        _per_loan(prepayments, F(f"{prepaid_item}amount")),
        _per_loan(prepayments, F(f"{prepaid_item}amount") - F(f"{prepaid_item}outstanding")),
        _per_loan(prepayments, F(f"{prepaid_item}outstanding")),
        _per_loan(payoffs, "principal"),
        _per_loan(payoffs, payoff_paid),
        _per_loan(payoffs, Greatest(payoff_paid - F("interest"), Value(ZERO), output_field=MONEY)),
        _per_loan(payoffs, "payoff_item__outstanding"),
    )
    extras = {}
    for pk, scheduled, prepaid, prepaid_paid, prepaid_owed, payoff, payoff_paid_, payoff_repaid, payoff_owed in rows:
        extras[pk] = {
            "unbilled_principal": scheduled,
            "billed_principal": prepaid + payoff,
            "paid": prepaid_paid + payoff_paid_,
            "principal_repaid": prepaid_paid + payoff_repaid,
            "billed_outstanding": prepaid_owed + payoff_owed,
        }
    return extras


def loan_figures(*, loan_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """The figures of these loans, before any name is joined (two queries): one grouped by loan
    over their posted installments (read by installment_loan_sequence_idx), one for what was
    billed outside them and what is still scheduled (`_loan_extras`)."""
    sums = (
        Installment.objects.filter(loan_id__in=loan_ids, status=InstallmentStatus.POSTED)
        .order_by()
        .values("loan_id")
        .annotate(**_portfolio_sums())
        .values_list("loan_id", *NO_FIGURES)
    )
    posted = {row[0]: dict(zip(NO_FIGURES, row[1:], strict=True)) for row in sums}
    figures = {}
    for loan_id, extra in _loan_extras(loan_ids).items():
        own = posted.get(loan_id, NO_FIGURES)
        figures[loan_id] = {
            **{name: own[name] + extra[name] for name in NO_FIGURES},
            "unbilled_principal": extra["unbilled_principal"],
        }
    return figures


PORTFOLIO_KEY = ("driver__full_name", "loan_number")


def portfolio_loans(*, statuses: list[str] | None = None) -> QuerySet[DriverLoan]:
    """The loans of the portfolio reports: those in `statuses` (all if none)."""
    return DriverLoan.objects.filter(status__in=statuses) if statuses else DriverLoan.objects.all()


def drivers_with_loans(*, statuses: list[str] | None = None) -> QuerySet[Driver]:
    return Driver.objects.filter(Exists(portfolio_loans(statuses=statuses).filter(driver=OuterRef("pk"))))


def drivers_owing_loans() -> QuerySet[Driver]:
    """Drivers with an open item on their LOANS receivable (through the account's unique key and
    open_item_open_by_account_idx)."""
    open_items = OpenItem.objects.filter(
        status=OpenItemStatus.OPEN,
        account__party_type=DRIVER_PARTY_TYPE,
        account__category=Category.LOANS,
        account__party_id=Cast(OuterRef("pk"), output_field=CharField()),
    )
    return Driver.objects.filter(Exists(open_items))


def loan_portfolio_page(
    *, statuses: list[str] | None = None, offset: int = 0, limit: int, after: tuple | None = None
) -> list[tuple[DriverLoan, PortfolioFigures]]:
    """A page of loans in (driver name, loan number) order, `limit` rows from `offset` (or after
    the key `after`), in SQL; then the figures of those loans only (two queries in all)."""
    loans = portfolio_loans(statuses=statuses).select_related("driver", "write_off")
    if after is not None:
        loans = loans.filter(keyset.after(PORTFOLIO_KEY, after))
    page = list(loans.order_by(*PORTFOLIO_KEY)[offset : offset + limit])
    figures = loan_figures(loan_ids=[loan.pk for loan in page])
    rows = []
    for loan in page:
        write_off = getattr(loan, "write_off", None)
        sums = _net_of_write_off(figures.get(loan.pk, NO_FIGURES), write_off)
        rows.append(
            (
                loan,
                PortfolioFigures(
                    billed_principal=sums["billed_principal"],
                    paid=sums["paid"],
                    principal_repaid=sums["principal_repaid"],
                    billed_outstanding=sums["billed_outstanding"],
                    # What is scheduled and what is billed but not repaid nor written off.
                    outstanding_principal=sums["unbilled_principal"]
                    + sums["billed_principal"]
                    - sums["principal_repaid"]
                    - (sums["principal_written_off"] - sums["unbilled_written_off"]),
                    unbilled_principal=sums["unbilled_principal"],
                ),
            )
        )
    return rows


def _net_of_write_off(sums: dict[str, Decimal], write_off: LoanWriteOff | None) -> dict[str, Decimal]:
    """A written-off loan's items are closed with nothing outstanding, which the sums read as paid:
    take back what the write-off gave up of its installments (their principal and interest), so
    that principal repaid + written off + outstanding = principal (and unbilled is 0)."""
    if write_off is None:
        return {**sums, "principal_written_off": ZERO, "unbilled_written_off": ZERO}
    billed = write_off.principal - write_off.unbilled_principal
    return {
        **sums,
        "paid": sums["paid"] - billed - write_off.interest,
        "principal_repaid": sums["principal_repaid"] - billed,
        "principal_written_off": write_off.principal,
        "unbilled_written_off": write_off.unbilled_principal,
    }


@dataclass(frozen=True)
class DriverPortfolio:
    driver_id: int
    driver_name: str
    tlc_license_number: str
    loans: int
    principal: Decimal
    outstanding_principal: Decimal
    billed_outstanding: Decimal


def _drivers_page(drivers: QuerySet[Driver], *, offset: int, limit: int, after: tuple | None) -> list[Driver]:
    """Drivers in (name, id) order (driver_name_idx), `limit` from `offset` or after `after`."""
    if after is not None:
        drivers = drivers.filter(keyset.after(DRIVER_KEY, after))
    return list(drivers.order_by(*DRIVER_KEY).only("pk", "full_name", "tlc_license_number")[offset : offset + limit])


DRIVER_KEY = ("full_name", "id")


def portfolio_by_driver_page(
    *, statuses: list[str] | None = None, offset: int = 0, limit: int, after: tuple | None = None
) -> list[DriverPortfolio]:
    """A page of drivers with a loan in `statuses`, in (name, id) order, with their loans' totals:
    the page's drivers in SQL, then their loans, then those loans' figures (three queries)."""
    loans = portfolio_loans(statuses=statuses)
    drivers = _drivers_page(drivers_with_loans(statuses=statuses), offset=offset, limit=limit, after=after)
    their_loans = list(
        loans.filter(driver_id__in=[d.pk for d in drivers]).values_list(
            "pk", "driver_id", "principal", Coalesce("write_off__principal", Value(ZERO), output_field=MONEY)
        )
    )
    figures = loan_figures(loan_ids=[pk for pk, _, _, _ in their_loans])
    totals: dict[int, list] = defaultdict(lambda: [0, ZERO, ZERO, ZERO])
    for pk, driver_id, principal, written_off in their_loans:
        loan = figures.get(pk, NO_FIGURES)
        row = totals[driver_id]
        row[0] += 1
        row[1] += principal
        # A written-off loan's principal is repaid or written off: nothing is outstanding.
        row[2] += (
            ZERO
            if written_off
            else to_cents(loan["unbilled_principal"] + loan["billed_principal"] - loan["principal_repaid"])
        )
        row[3] += to_cents(loan["billed_outstanding"])
    return [
        DriverPortfolio(driver.pk, driver.full_name, driver.tlc_license_number, *totals[driver.pk])
        for driver in drivers
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


def driver_loans_aging_page(*, as_of: date, offset: int = 0, limit: int, after: tuple | None = None) -> list[dict]:
    """Open LOANS items per driver by days past due (current, 1-7, 8-30, 31-60, 60+), a page of
    drivers with an open item in (name, id) order: the drivers in SQL (through their receivable
    account and open_item_open_by_account_idx), then the ledger's aging of those parties only."""
    drivers = _drivers_page(drivers_owing_loans(), offset=offset, limit=limit, after=after)
    rows = ledger_selectors.open_items_aging(
        as_of=as_of,
        party_type=DRIVER_PARTY_TYPE,
        category=Category.LOANS,
        party_ids=[str(driver.pk) for driver in drivers],
    )
    by_party: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_party[int(row["party_id"])].append(row)
    page = []
    for driver in drivers:
        for row in by_party[driver.pk]:
            page.append(
                {
                    **row,
                    "driver_id": driver.pk,
                    "driver_name": driver.full_name,
                    "tlc_license_number": driver.tlc_license_number,
                }
            )
    return page


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


def loan_delinquency(*, loan_id: int) -> LoanDelinquency | None:
    """The loan's days past due and class as of its last classification (None before the first)."""
    return LoanDelinquency.objects.select_related("delinquency_class").filter(loan_id=loan_id).first()


def delinquency_history(*, loan_id: int, limit: int = 20) -> list[LoanDelinquencyChange]:
    """The loan's latest changes of class, newest first."""
    return list(
        LoanDelinquencyChange.objects.filter(loan_id=loan_id)
        .select_related("from_class", "to_class")
        .order_by("-id")[:limit]
    )


# --- Collections --------------------------------------------------------------------------------


def collections_queue() -> QuerySet[CollectionCase]:
    """The delinquent drivers (cases with days past due), with what a row of the queue shows. Order
    by amount or days (each with the driver) to walk an index of the queue."""
    return CollectionCase.objects.filter(DELINQUENT).select_related("driver", "delinquency_class", "collector")


def collection_notes(*, driver_id: int) -> QuerySet[CollectionNote]:
    """The driver's collections notes, newest first, with their authors."""
    return CollectionNote.objects.filter(driver_id=driver_id).select_related("author").order_by("-id")


def promises_to_pay(*, driver_id: int) -> QuerySet[PromiseToPay]:
    """The driver's promises to pay, newest first, with who took them."""
    return PromiseToPay.objects.filter(driver_id=driver_id).select_related("taken_by").order_by("-id")


def collectors() -> QuerySet[User]:
    """Active staff members who may be assigned delinquent drivers (by their roles or their own
    permissions); a small table (staff)."""
    app_label, codename = COLLECTOR_PERMISSION.split(".")
    holds = Q(codename=codename, content_type__app_label=app_label)
    permission_ids = Permission.objects.filter(holds).values("pk")
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True) | Q(groups__permissions__in=permission_ids) | Q(user_permissions__in=permission_ids)
        )
        .distinct()
        .order_by("username")
    )


# --- Delinquency report and chart -------------------------------------------------------------

DELINQUENCY_REPORT_KEY = ("days_past_due", "loan_id")  # descending: loan_delinquency_days_idx


def delinquent_loans(*, class_id: int | None = None) -> QuerySet[LoanDelinquency]:
    """The loans of the delinquency report: those past due (as of their last classification), or
    every loan of one class (`class_id`, "current" included)."""
    states = LoanDelinquency.objects.all()
    return states.filter(delinquency_class_id=class_id) if class_id is not None else states.filter(days_past_due__gt=0)


def delinquency_report_page(
    *, class_id: int | None = None, offset: int = 0, limit: int, after: tuple | None = None
) -> list[tuple[LoanDelinquency, Decimal]]:
    """A page of delinquent loans, most days past due first (then loan id, descending), each with
    what is overdue on it: the outstanding of its posted installments' open items due before the
    day it was classified for. Two queries: the page, then the amounts of its loans."""
    states = delinquent_loans(class_id=class_id).select_related("loan__driver", "delinquency_class")
    if after is not None:
        states = states.filter(keyset.after(DELINQUENCY_REPORT_KEY, after, descending=True))
    page = list(states.order_by("-days_past_due", "-loan_id")[offset : offset + limit])
    overdue = dict(
        Installment.objects.filter(
            loan_id__in=[state.loan_id for state in page],
            status=InstallmentStatus.POSTED,
            posted_entry__open_items__status=OpenItemStatus.OPEN,
            posted_entry__open_items__due_date__lt=F("loan__delinquency__as_of"),
        )
        .order_by()
        .values("loan_id")
        .annotate(overdue=_sum("posted_entry__open_items__outstanding"))
        .values_list("loan_id", "overdue")
    )
    return [(state, to_cents(overdue.get(state.loan_id, ZERO))) for state in page]


def loans_by_delinquency_class() -> list[dict]:
    """Per class, in class order: how many loans are in it and what is overdue on them (the
    outstanding of their posted installments' open items due before their classification day).
    Two grouped queries, read by loan_delinquency_class_idx; every class appears, empty ones at 0."""
    counts = dict(
        LoanDelinquency.objects.order_by()
        .values("delinquency_class_id")
        .annotate(loans=Count("pk"))
        .values_list("delinquency_class_id", "loans")
    )
    amounts = dict(
        Installment.objects.filter(
            # Only past-due loans owe anything due before their day (days 0: nothing is): the
            # join starts from them (loan_delinquency_days_idx), not from every installment.
            loan__delinquency__days_past_due__gt=0,
            status=InstallmentStatus.POSTED,
            posted_entry__open_items__status=OpenItemStatus.OPEN,
            posted_entry__open_items__due_date__lt=F("loan__delinquency__as_of"),
        )
        .order_by()
        .values("loan__delinquency__delinquency_class_id")
        .annotate(overdue=_sum("posted_entry__open_items__outstanding"))
        .values_list("loan__delinquency__delinquency_class_id", "overdue")
    )
    return [
        {
            "class_id": delinquency_class.pk,
            "code": delinquency_class.code,
            "name": delinquency_class.name,
            "loans": counts.get(delinquency_class.pk, 0),
            "overdue": to_cents(amounts.get(delinquency_class.pk, ZERO)),
        }
        for delinquency_class in DelinquencyClass.objects.order_by("min_days")
    ]


def schedule_versions(*, loan_id: int) -> list[ScheduleVersion]:
    """A loan's schedule versions, oldest first, each with its installments (two queries and the
    loan's); NotFound for an unknown loan."""
    if not DriverLoan.objects.filter(pk=loan_id).exists():
        raise NotFound("No such loan.")
    installments = Prefetch("installments", queryset=Installment.objects.order_by("sequence"))
    return list(
        ScheduleVersion.objects.filter(loan_id=loan_id)
        .select_related("created_by")
        .prefetch_related(installments)
        .order_by("number")
    )


def prepayment(*, prepayment_id: int) -> LoanPrepayment:
    """A prepayment with the version it made and that version's installments."""
    installments = Prefetch("schedule_version__installments", queryset=Installment.objects.order_by("sequence"))
    return (
        LoanPrepayment.objects.select_related("schedule_version__created_by")
        .prefetch_related(installments)
        .get(pk=prepayment_id)
    )


# --- Write-offs and recoveries ----------------------------------------------------------------------


def _recovered_on_loan(loan: str) -> Coalesce:
    """What was recovered so far on the loan `loan` names (an outer reference; a reversed recovery
    counts for nothing), read by its key index."""
    recovered = (
        LoanRecovery.objects.filter(loan=OuterRef(loan), reversal_entry__isnull=True)
        .order_by()
        .values("loan")
        .annotate(total=Sum("amount"))
    )
    return Coalesce(Subquery(recovered.values("total")), Value(ZERO), output_field=MONEY)


def loan_recoveries() -> QuerySet[LoanRecovery]:
    """Recoveries with their loan, driver and write-off, and per row what the loan has recovered in
    all (`loan_recovered`): one query whatever the page."""
    recoveries = LoanRecovery.objects.select_related("loan__driver", "loan__write_off", "recorded_by")
    return recoveries.annotate(  # type: ignore[no-redef]  # the model declares the figure's type
        loan_recovered=_recovered_on_loan("loan_id")
    )


WRITE_OFF_REPORT_KEY = ("written_off_on", "id")  # descending: loan_write_off_date_idx


def write_offs_report_page(*, offset: int = 0, limit: int, after: tuple | None = None) -> list[LoanWriteOff]:
    """A page of write-offs, newest first, each with what was recovered on its loan so far
    (`recovered`): one query."""
    write_offs = LoanWriteOff.objects.select_related("loan__driver").annotate(  # type: ignore[no-redef]
        recovered=_recovered_on_loan("loan_id")  # the model declares the figure's type
    )
    if after is not None:
        write_offs = write_offs.filter(keyset.after(WRITE_OFF_REPORT_KEY, after, descending=True))
    return list(write_offs.order_by("-written_off_on", "-id")[offset : offset + limit])
