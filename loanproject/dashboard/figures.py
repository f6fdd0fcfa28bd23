"""What the dashboard shows, computed from the apps' selectors with a handful of aggregate
queries per section. Only the refresh job runs them (services.refresh_dashboard_figures); pages
read what it stored (selectors.dashboard_page, models.py says why).

Each chart carries, per bar or point, the admin list that explains it, so a click opens the
filtered changelist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse

from applications import selectors as application_selectors
from applications.lifecycle import ApplicationStatus
from ledger import selectors as ledger_selectors
from ledger.models import Category
from loans import selectors as loan_selectors
from loans.periods import week_containing

from .models import Section

DAYS_OF_APPLICATIONS = 30
WEEKS_OF_POSTINGS = 12


@dataclass
class Chart:
    key: str
    title: str
    kind: str  # "bar" or "line"
    labels: list[str] = field(default_factory=list)
    values: list = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    money: bool = False
    list_url: str = ""
    value_label: str = ""  # what `values` are, when a second series is drawn beside them
    # A second series on its own axis: {"label", "values", "money", "kind"}.
    second: dict | None = None


def _changelist(name: str, **params) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def application_charts(today: date) -> dict:
    since = today - timedelta(days=DAYS_OF_APPLICATIONS - 1)
    counts = application_selectors.application_status_counts(application_selectors.applications_visible_to(None))
    by_status = Chart(
        "applications_by_status",
        "Applications by status",
        "bar",
        labels=[ApplicationStatus(status).label for status in counts],
        values=list(counts.values()),
        links=[_changelist("applications_loanapplication", status__exact=status) for status in counts],
        list_url=_changelist("applications_loanapplication"),
    )
    per_day = {row["day"]: row["total"] for row in application_selectors.applications_per_day(since=since)}
    days = [since + timedelta(days=offset) for offset in range(DAYS_OF_APPLICATIONS)]
    over_time = Chart(
        "applications_per_day",
        f"Applications submitted, last {DAYS_OF_APPLICATIONS} days",
        "line",
        labels=[day.isoformat() for day in days],
        values=[per_day.get(day, 0) for day in days],
        links=[
            _changelist(
                "applications_loanapplication",
                submitted_at__year=day.year,
                submitted_at__month=day.month,
                submitted_at__day=day.day,
            )
            for day in days
        ],
        list_url=_changelist("applications_loanapplication"),
    )
    queue_rows = application_selectors.review_queue_by_reviewer()
    queue = Chart(
        "review_queue",
        "Review queue per reviewer",
        "bar",
        labels=[row["assigned_to__username"] or "(unassigned)" for row in queue_rows],
        values=[row["open_count"] for row in queue_rows],
        links=[
            _changelist(
                "applications_loanapplication",
                status__exact=ApplicationStatus.MANUAL_REVIEW,
                **({"assigned_to": row["assigned_to_id"]} if row["assigned_to_id"] else {"queue": "waiting"}),
            )
            for row in queue_rows
        ],
        list_url=_changelist("applications_loanapplication", status__exact=ApplicationStatus.MANUAL_REVIEW),
    )
    rate = application_selectors.approval_rate(since=since)
    return {
        "charts": [by_status, over_time, queue],
        "approval": rate,
        "approval_days": DAYS_OF_APPLICATIONS,
        "in_review": counts[ApplicationStatus.MANUAL_REVIEW],
    }


def loan_charts(today: date) -> dict:
    this_week = week_containing(today)[0]
    first_week = this_week - timedelta(weeks=WEEKS_OF_POSTINGS - 1)
    totals = {
        row.week_start: row
        for row in loan_selectors.posted_totals_per_week(date_from=first_week, date_to=this_week + timedelta(days=6))
    }
    weeks = [first_week + timedelta(weeks=offset) for offset in range(WEEKS_OF_POSTINGS)]
    posted = Chart(
        "posted_per_week",
        f"Posted installments by week due, last {WEEKS_OF_POSTINGS} weeks",
        "bar",
        labels=[week.isoformat() for week in weeks],
        values=[totals[week].installments if week in totals else 0 for week in weeks],
        value_label="installments",
        second={
            "label": "amount",
            "values": [totals[week].amount if week in totals else Decimal("0.00") for week in weeks],
            "money": True,
            "kind": "line",
        },
        links=[
            _changelist(
                "loans_installment",
                status__exact="posted",
                due_date__gte=week.isoformat(),
                due_date__lte=(week + timedelta(days=6)).isoformat(),
            )
            for week in weeks
        ],
        list_url=_changelist("loans_installment", status__exact="posted"),
    )
    return {
        "charts": [posted, delinquency_chart()],
        "portfolio": loan_selectors.portfolio_totals(),
        "portfolio_url": _changelist("loans_driverloan", status__exact="active"),
    }


def delinquency_chart() -> Chart:
    """Loans by delinquency class (as of their last classification): the count, and the amount
    overdue on them; each bar opens the driver-loan list filtered by its class."""
    classes = loan_selectors.loans_by_delinquency_class()
    return Chart(
        "loans_by_delinquency_class",
        "Loans by delinquency class",
        "bar",
        labels=[row["name"] for row in classes],
        values=[row["loans"] for row in classes],
        value_label="loans",
        second={"label": "overdue", "values": [row["overdue"] for row in classes], "money": True, "kind": "bar"},
        links=[
            _changelist("loans_driverloan", delinquency__delinquency_class__id__exact=row["class_id"])
            for row in classes
        ],
        list_url=_changelist("loans_driverloan"),
    )


def admin_filter_of(condition: Q) -> dict[str, str]:
    """The changelist query string of a selector's condition (an AND of plain field lookups), so
    a bar's list shows exactly the rows the selector counted."""
    if condition.connector != Q.AND or condition.negated or not all(isinstance(c, tuple) for c in condition.children):
        raise ValueError(f"not expressible as admin filters: {condition!r}")
    lookups = [child for child in condition.children if isinstance(child, tuple)]
    return {lookup: value.isoformat() if hasattr(value, "isoformat") else str(value) for lookup, value in lookups}


def aging_chart(today: date) -> Chart:
    buckets = ledger_selectors.open_items_aging_totals(as_of=today, category=Category.LOANS)
    conditions = ledger_selectors.aging_bucket_conditions(today)
    return Chart(
        "loans_aging",
        "Driver loans: open items by days past due",
        "bar",
        money=True,
        labels=[ledger_selectors.AGING_LABELS[name] for name in buckets],
        values=list(buckets.values()),
        links=[
            _changelist(
                "ledger_openitem",
                status__exact="open",
                account__category__exact=Category.LOANS,
                **admin_filter_of(conditions[name]),
            )
            for name in buckets
        ],
        list_url=_changelist("ledger_openitem", status__exact="open"),
    )


def ledger_section(today: date) -> dict:
    return {"charts": [aging_chart(today)]}


SECTIONS: dict[str, Callable[[date], dict]] = {
    Section.APPLICATIONS: application_charts,
    Section.LOANS: loan_charts,
    Section.LEDGER: ledger_section,
}


def compute_section(name: str, today: date) -> dict:
    """A section's figures as stored and shown: charts as plain dicts."""
    figures = dict(SECTIONS[name](today))
    figures["charts"] = [asdict(chart) for chart in figures["charts"]]
    return figures
