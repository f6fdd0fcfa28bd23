"""What the dashboard shows, computed from the apps' selectors with a handful of aggregate
queries and cached.

At a million rows those aggregates take seconds (the portfolio joins every posted installment to
its open item), too long for a page. So the beat job `refresh-dashboard` computes every section
once a minute and caches the page of every combination of permissions for REFRESHED_SECONDS;
staff read the cache. Only when the job has not run (a fresh cache, beat stopped) does a page
compute its own figures, cached for a minute as before.

Each chart carries, per bar or point, the admin list that explains it, so a click opens the
filtered changelist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import product
from typing import cast
from urllib.parse import urlencode

from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse

from applications import selectors as application_selectors
from applications.lifecycle import ApplicationStatus
from ledger import selectors as ledger_selectors
from ledger.models import Category
from loans import selectors as loan_selectors
from loans.periods import week_containing

CACHE_SECONDS = 60
REFRESHED_SECONDS = 180  # three beats: one missed tick does not leave staff waiting for the aggregates
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
        "charts": [posted],
        "portfolio": loan_selectors.portfolio_totals(),
        "portfolio_url": _changelist("loans_driverloan", status__exact="active"),
    }


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


def _key(today: date, show_applications: bool, show_loans: bool, show_ledger: bool) -> str:
    return f"dashboard:v2:{today.isoformat()}:{int(show_applications)}{int(show_loans)}{int(show_ledger)}"


def _page(sections: dict, show_applications: bool, show_loans: bool, show_ledger: bool) -> dict:
    """The figures of one combination of permissions, from the sections it may see."""
    figures: dict = {"charts": []}
    for shown, name in ((show_applications, "applications"), (show_loans, "loans")):
        if shown:
            part = dict(sections[name]())
            figures["charts"] += [asdict(chart) for chart in part.pop("charts")]
            figures[name] = part
    if show_ledger:
        figures["charts"].append(asdict(sections["ledger"]()))
    return figures


def _sections(today: date) -> dict:
    return {
        "applications": lambda: application_charts(today),
        "loans": lambda: loan_charts(today),
        "ledger": lambda: aging_chart(today),
    }


def dashboard_figures(*, today: date, show_applications: bool, show_loans: bool, show_ledger: bool) -> dict:
    """Everything the page shows for this combination of permissions: what the beat job cached,
    or else computed now and cached for a minute."""
    shown = (show_applications, show_loans, show_ledger)
    # get_or_set answers what the callable returned (the stub allows None for a missing default).
    return cast(dict, cache.get_or_set(_key(today, *shown), lambda: _page(_sections(today), *shown), CACHE_SECONDS))


def refresh_dashboard_figures(*, today: date) -> None:
    """Compute each section once and cache the page of every combination of permissions."""
    computed = {name: compute() for name, compute in _sections(today).items()}
    sections = {name: (lambda value=value: value) for name, value in computed.items()}
    for shown in product((False, True), repeat=3):
        cache.set(_key(today, *shown), _page(sections, *shown), REFRESHED_SECONDS)
