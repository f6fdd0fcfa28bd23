"""The loan reports, defined once for the admin, the API and the CSV/XLSX exports.

Each report has columns, parameters parsed from a query string, and a fetch that reads one page of
rows in SQL: a JSON or admin page is LIMIT/OFFSET on an indexed order with its figures summed for
that page's rows only; an export reads keyset chunks, so its memory stays bounded whatever the size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError

from ledger.selectors import AGING_BUCKETS, AGING_LABELS
from loanproject.core import keyset
from loanproject.core.export_jobs import Exportable, register_export
from loanproject.core.money import to_cents

from . import selectors
from .models import DelinquencyClass, LoanStatus, LoanWriteOff
from .periods import business_today, is_business_date, out_of_range_message, week_containing

Columns = tuple[tuple[str, str], ...]
EXPORT_PERMISSION = "loans.export_loans"


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    columns: Columns
    parse: Callable[[Mapping[str, str]], dict]
    fetch: Callable[..., list[dict]]
    count: Callable[..., int]
    description: str = ""

    def page(self, parameters: Mapping[str, object], *, offset: int, limit: int) -> list[dict]:
        """Rows `offset` to `offset + limit` (LIMIT/OFFSET in SQL)."""
        return self.fetch(**parameters, offset=offset, limit=limit)

    def after(self, parameters: Mapping[str, object], *, key: tuple, limit: int) -> list[dict]:
        """`limit` rows after the row whose order key is `key` (keyset: an index range at any depth)."""
        return self.fetch(**parameters, after=key, limit=limit)

    def rows(self, **parameters: object) -> Iterator[dict]:
        """Every row, read in keyset chunks of EXPORT_CHUNK_ROWS: memory stays bounded by a chunk."""
        after = None
        while True:
            chunk = self.fetch(**parameters, limit=EXPORT_CHUNK_ROWS, after=after)
            yield from chunk
            if len(chunk) < EXPORT_CHUNK_ROWS:
                return
            after = chunk[-1][KEY]


def _date(params: Mapping[str, str], name: str, default: date) -> date:
    value = params.get(name) or ""
    if not value:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError({name: [f"Enter a date as YYYY-MM-DD, got {value!r}."]}) from None
    if not is_business_date(day):
        raise ValidationError({name: [out_of_range_message(day)]})
    return day


def _week(params: Mapping[str, str]) -> dict:
    period_start, period_end = week_containing(_date(params, "week", business_today()))
    return {"period_start": period_start, "period_end": period_end}


def _driver(params: Mapping[str, str]) -> int | None:
    value = (params.get("driver") or "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[0-9]{1,18}", value):  # str.isdigit() takes "²", which int() refuses
        raise ValidationError({"driver": [f"A driver id (a whole number), got {value!r}."]})
    return int(value)


def _week_and_driver(params: Mapping[str, str]) -> dict:
    return {**_week(params), "driver_id": _driver(params)}


def _date_range(params: Mapping[str, str]) -> dict:
    this_sunday = week_containing(business_today())[0]
    date_from = _date(params, "date_from", this_sunday - timedelta(weeks=11))
    date_to = _date(params, "date_to", this_sunday + timedelta(days=6))
    if date_to < date_from:
        raise ValidationError({"date_to": ["The end is before the start."]})
    return {"date_from": date_from, "date_to": date_to}


def _as_of(params: Mapping[str, str]) -> dict:
    return {"as_of": _date(params, "as_of", business_today())}


def _statuses(params: Mapping[str, str]) -> dict:
    status = params.get("status") or LoanStatus.ACTIVE
    if status != "all" and status not in LoanStatus.values:
        raise ValidationError({"status": [f"One of {', '.join([*LoanStatus.values, 'all'])}."]})
    return {"statuses": None if status == "all" else [status]}


def _delinquency_class(params: Mapping[str, str]) -> dict:
    """delinquency_class=<code> for one class's loans (current included); default every loan past due."""
    code = params.get("delinquency_class") or ""
    if not code:
        return {"class_id": None}
    found = DelinquencyClass.objects.filter(code=code).values_list("pk", flat=True).first()
    if found is None:
        codes = ", ".join(DelinquencyClass.objects.order_by("min_days").values_list("code", flat=True))
        raise ValidationError({"delinquency_class": [f"One of {codes}."]})
    return {"class_id": found}


# A report reads its rows a page at a time: `fetch(offset=, limit=, after=, **parameters)` returns
# up to `limit` rows in the report's order, from `offset` (a JSON or admin page: LIMIT/OFFSET in
# SQL on an indexed order) or after the key `after` (exports: keyset chunks, each an index range,
# no cursor held open). Every row carries its order key as KEY, which no column shows.
KEY = "_key"
EXPORT_CHUNK_ROWS = 2000


def _unposted(
    *, period_start: date, period_end: date, driver_id: int | None = None, offset: int = 0, limit: int, after=None
) -> list[dict]:
    installments = selectors.unposted_installments(
        period_start=period_start, period_end=period_end, driver_id=driver_id
    )
    if after is not None:
        installments = installments.filter(keyset.after(selectors.UNPOSTED_KEY, after))
    fields = (
        "loan__loan_number",
        "loan__driver__full_name",
        "loan__driver__tlc_license_number",
        "sequence",
        "due_date",
        "principal",
        "interest",
        "amount",
        "id",
    )
    names = ("loan_number", "driver", "tlc_license_number", "sequence", "due_date", "principal", "interest", "amount")
    return [
        {**dict(zip(names, row[:-1], strict=True)), KEY: (row[4], row[-1])}
        for row in installments.values_list(*fields)[offset : offset + limit]
    ]


def _portfolio(*, statuses: list[str] | None, offset: int = 0, limit: int, after=None) -> list[dict]:
    return [
        {
            "loan_number": loan.loan_number,
            "driver": loan.driver.full_name,
            "tlc_license_number": loan.driver.tlc_license_number,
            "status": loan.status,
            "principal": loan.principal,
            "annual_interest_rate": loan.annual_interest_rate,
            **{name: to_cents(figures[name]) for name in PORTFOLIO_FIGURES},  # type: ignore[literal-required]
            KEY: (loan.driver.full_name, loan.loan_number),
        }
        for loan, figures in selectors.loan_portfolio_page(statuses=statuses, offset=offset, limit=limit, after=after)
    ]


PORTFOLIO_FIGURES = (
    "billed_principal",
    "principal_repaid",
    "outstanding_principal",
    "billed_outstanding",
    "unbilled_principal",
)


def _by_driver(*, statuses: list[str] | None, offset: int = 0, limit: int, after=None) -> list[dict]:
    return [
        {
            "driver": row.driver_name,
            "tlc_license_number": row.tlc_license_number,
            "loans": row.loans,
            "principal": row.principal,
            "outstanding_principal": row.outstanding_principal,
            "billed_outstanding": row.billed_outstanding,
            KEY: (row.driver_name, row.driver_id),
        }
        for row in selectors.portfolio_by_driver_page(statuses=statuses, offset=offset, limit=limit, after=after)
    ]


def _weekly(*, date_from: date, date_to: date, offset: int = 0, limit: int, after=None) -> list[dict]:
    """A row per week of the range: aggregated in SQL to a few dozen rows, sliced here."""
    weeks = [
        {
            "week_start": week.week_start,
            "installments": week.installments,
            "principal": week.principal,
            "interest": week.interest,
            "amount": week.amount,
            KEY: (week.week_start,),
        }
        for week in selectors.posted_totals_per_week(date_from=date_from, date_to=date_to)
        if after is None or (week.week_start,) > tuple(after)
    ]
    return weeks[offset : offset + limit]


def _aging(*, as_of: date, offset: int = 0, limit: int, after=None) -> list[dict]:
    rows: list[dict] = []
    for row in selectors.driver_loans_aging_page(as_of=as_of, offset=offset, limit=limit, after=after):
        rows.append(
            {
                "driver": row["driver_name"],
                "tlc_license_number": row["tlc_license_number"],
                **{b: row[b] for b in AGING_BUCKETS},
                "total": row["total"],
                KEY: (row["driver_name"], row["driver_id"]),
            }
        )
    return rows


def _delinquency(*, class_id: int | None, offset: int = 0, limit: int, after=None) -> list[dict]:
    return [
        {
            "loan_number": state.loan.loan_number,
            "driver": state.loan.driver.full_name,
            "tlc_license_number": state.loan.driver.tlc_license_number,
            "delinquency_class": state.delinquency_class.name if state.delinquency_class else "",
            "days_past_due": state.days_past_due,
            "oldest_overdue": state.oldest_overdue,
            "overdue": overdue,
            "as_of": state.as_of,
            KEY: (state.days_past_due, state.loan_id),
        }
        for state, overdue in selectors.delinquency_report_page(
            class_id=class_id, offset=offset, limit=limit, after=after
        )
    ]


def _write_offs(*, offset: int = 0, limit: int, after=None) -> list[dict]:
    return [
        {
            "loan_number": write_off.loan.loan_number,
            "driver": write_off.loan.driver.full_name,
            "tlc_license_number": write_off.loan.driver.tlc_license_number,
            "written_off_on": write_off.written_off_on,
            "principal": write_off.principal,
            "interest": write_off.interest,
            "fees": write_off.fees,
            "written_off": write_off.total,
            "recovered": write_off.recovered,
            "net_loss": write_off.total - write_off.recovered,
            KEY: (write_off.written_off_on, write_off.pk),
        }
        for write_off in selectors.write_offs_report_page(offset=offset, limit=limit, after=after)
    ]


def _count_unposted(*, period_start: date, period_end: date, driver_id: int | None = None) -> int:
    return selectors.unposted_installments(
        period_start=period_start, period_end=period_end, driver_id=driver_id
    ).count()


def _count_weeks(*, date_from: date, date_to: date) -> int:
    return len(selectors.posted_totals_per_week(date_from=date_from, date_to=date_to))


DRIVER = (("driver", "Driver"), ("tlc_license_number", "TLC licence"))

REPORTS: dict[str, Report] = {
    report.name: report
    for report in [
        Report(
            "unposted",
            "Unposted installments",
            (
                ("loan_number", "Loan"),
                *DRIVER,
                ("sequence", "No."),
                ("due_date", "Due"),
                ("principal", "Principal"),
                ("interest", "Interest"),
                ("amount", "Amount"),
            ),
            _week_and_driver,
            _unposted,
            _count_unposted,
            "What the weekly posting of the week (parameter week=any day of it) would post, overdue ones included, by "
            "due date; driver=<id> for one driver's.",
        ),
        Report(
            "portfolio",
            "Loan portfolio",
            (
                ("loan_number", "Loan"),
                *DRIVER,
                ("status", "Status"),
                ("principal", "Principal"),
                ("annual_interest_rate", "Rate %"),
                ("billed_principal", "Principal billed"),
                ("principal_repaid", "Principal repaid"),
                ("outstanding_principal", "Principal outstanding"),
                ("billed_outstanding", "Billed, unpaid"),
                ("unbilled_principal", "Principal not yet billed"),
            ),
            _statuses,
            _portfolio,
            lambda statuses: selectors.portfolio_loans(statuses=statuses).count(),
            "Outstanding principal per loan (payments pay interest first); status=active (default), closed, ... or all.",
        ),
        Report(
            "portfolio-by-driver",
            "Loan portfolio by driver",
            (
                *DRIVER,
                ("loans", "Loans"),
                ("principal", "Principal"),
                ("outstanding_principal", "Principal outstanding"),
                ("billed_outstanding", "Billed, unpaid"),
            ),
            _statuses,
            _by_driver,
            lambda statuses: selectors.drivers_with_loans(statuses=statuses).count(),
            "Outstanding principal per driver (by name).",
        ),
        Report(
            "posted-totals",
            "Posted totals per week",
            (
                ("week_start", "Week of"),
                ("installments", "Installments"),
                ("principal", "Principal"),
                ("interest", "Interest"),
                ("amount", "Amount"),
            ),
            _date_range,
            _weekly,
            _count_weeks,
            "Installments posted, by the week they fell due (date_from, date_to; default the last 12 weeks).",
        ),
        Report(
            "aging",
            "Open items aging",
            (*DRIVER, *((bucket, AGING_LABELS[bucket]) for bucket in AGING_BUCKETS), ("total", "Total")),
            _as_of,
            _aging,
            lambda as_of: selectors.drivers_owing_loans().count(),
            "Unpaid LOANS items per driver (by name) by days past due on as_of (default today).",
        ),
        Report(
            "delinquency",
            "Delinquent loans",
            (
                ("loan_number", "Loan"),
                *DRIVER,
                ("delinquency_class", "Class"),
                ("days_past_due", "Days past due"),
                ("oldest_overdue", "Oldest unpaid due date"),
                ("overdue", "Overdue"),
                ("as_of", "Classified as of"),
            ),
            _delinquency_class,
            _delinquency,
            lambda class_id: selectors.delinquent_loans(class_id=class_id).count(),
            "Loans past due as of their last classification, most days first, with what is overdue on each "
            "(unpaid installments due before that day); delinquency_class=<code> for one class's loans (current "
            "included).",
        ),
        Report(
            "write-offs",
            "Written-off loans and recoveries",
            (
                ("loan_number", "Loan"),
                *DRIVER,
                ("written_off_on", "Written off on"),
                ("principal", "Principal written off"),
                ("interest", "Interest written off"),
                ("fees", "Fees written off"),
                ("written_off", "Written off"),
                ("recovered", "Recovered so far"),
                ("net_loss", "Net loss"),
            ),
            lambda params: {},
            _write_offs,
            lambda: LoanWriteOff.objects.count(),
            "Per written-off loan, newest first: what was written off, what was recovered since (recoveries income), "
            "and the net loss.",
        ),
    ]
}


def register_exports() -> None:
    """Offer every report to core's export jobs (LoansConfig.ready), as loans.<name>."""
    for report in REPORTS.values():
        register_export(
            Exportable(
                name=f"loans.{report.name}",
                title=report.title,
                columns=report.columns,
                parse=report.parse,
                rows=report.rows,
                count=report.count,
                permission=EXPORT_PERMISSION,
            )
        )
