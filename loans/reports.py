"""The loan reports, defined once for the admin, the API and the CSV/XLSX exports.

Each report has columns, parameters parsed from a query string, and rows produced as an iterator
(big reports stream from the database in batches, so exports keep memory bounded).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError

from ledger.selectors import AGING_BUCKETS, AGING_LABELS
from loanproject.core.money import to_cents

from . import selectors
from .models import LoanStatus
from .periods import business_today, is_business_date, out_of_range_message, week_containing

Columns = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    columns: Columns
    parse: Callable[[Mapping[str, str]], dict]
    rows: Callable[..., Iterable[dict]]
    description: str = ""


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


def unposted_rows(*, period_start: date, period_end: date, driver_id: int | None = None) -> Iterable[dict]:
    fields = (
        "loan__loan_number",
        "loan__driver__full_name",
        "loan__driver__tlc_license_number",
        "sequence",
        "due_date",
        "principal",
        "interest",
        "amount",
    )
    names = ("loan_number", "driver", "tlc_license_number", "sequence", "due_date", "principal", "interest", "amount")
    rows = selectors.unposted_installments(
        period_start=period_start, period_end=period_end, driver_id=driver_id
    ).values_list(*fields)
    for row in rows.iterator(chunk_size=2000):
        yield dict(zip(names, row, strict=True))


def portfolio_rows(*, statuses: list[str] | None) -> Iterable[dict]:
    for loan in selectors.loan_portfolio(statuses=statuses).iterator(chunk_size=2000):
        yield {
            "loan_number": loan.loan_number,
            "driver": loan.driver.full_name,
            "tlc_license_number": loan.driver.tlc_license_number,
            "status": loan.status,
            "principal": loan.principal,
            "annual_interest_rate": loan.annual_interest_rate,
            "billed_principal": to_cents(loan.billed_principal),
            "principal_repaid": to_cents(loan.principal_repaid),
            "outstanding_principal": to_cents(loan.outstanding_principal),
            "billed_outstanding": to_cents(loan.billed_outstanding),
            "unbilled_principal": to_cents(loan.unbilled_principal),
        }


def driver_rows(*, statuses: list[str] | None) -> Iterable[dict]:
    for row in selectors.portfolio_by_driver(statuses=statuses):
        yield {
            "driver": row.driver_name,
            "tlc_license_number": row.tlc_license_number,
            "loans": row.loans,
            "principal": row.principal,
            "outstanding_principal": row.outstanding_principal,
            "billed_outstanding": row.billed_outstanding,
        }


def weekly_rows(*, date_from: date, date_to: date) -> Iterable[dict]:
    for week in selectors.posted_totals_per_week(date_from=date_from, date_to=date_to):
        yield {
            "week_start": week.week_start,
            "installments": week.installments,
            "principal": week.principal,
            "interest": week.interest,
            "amount": week.amount,
        }


def aging_rows(*, as_of: date) -> Iterable[dict]:
    for row in selectors.driver_loans_aging(as_of=as_of):
        yield {
            "driver": row["driver_name"],
            "tlc_license_number": row["tlc_license_number"],
            **{b: row[b] for b in AGING_BUCKETS},
            "total": row["total"],
        }


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
            unposted_rows,
            "What the weekly posting of the week (parameter week=any day of it) would post, overdue ones included; "
            "driver=<id> for one driver's.",
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
            portfolio_rows,
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
            driver_rows,
            "Outstanding principal per driver.",
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
            weekly_rows,
            "Installments posted, by the week they fell due (date_from, date_to; default the last 12 weeks).",
        ),
        Report(
            "aging",
            "Open items aging",
            (*DRIVER, *((bucket, AGING_LABELS[bucket]) for bucket in AGING_BUCKETS), ("total", "Total")),
            _as_of,
            aging_rows,
            "Unpaid LOANS items per driver by days past due on as_of (default today).",
        ),
    ]
}
