"""What a dashboard page shows: the stored sections its reader may see (one query)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from django.utils import timezone

from loanproject.core.broker import send_task_soon

from .models import DashboardSection, Section

# Beat refreshes every minute; figures older than this mean ticks were missed (beat or the
# workers down, or no beat at all, as under `make run`): the page asks for a refresh itself.
STALE_AFTER = timedelta(seconds=150)


def _stored(names: Sequence[str]) -> dict[str, DashboardSection]:
    return {row.name: row for row in DashboardSection.objects.filter(name__in=names)}


def _is_stale(row: DashboardSection, today: date, now: datetime) -> bool:
    return row.computed_for != today or row.computed_at < now - STALE_AFTER


def dashboard_page(*, today: date, show_applications: bool, show_loans: bool, show_ledger: bool) -> dict:
    """The figures of the sections this reader may see, as last computed, and when.

    A missing or stale section asks the refresh job to run (never waiting for the broker; where
    tasks run in-process the job runs now and the page shows its figures). Keys: "charts" (every
    shown section's, in order), "applications" and "loans" (their other figures), "computed_at"
    (the oldest shown section's time, None before the first refresh), "stale" and "pending" (the
    sections not computed yet).
    """
    shown: list[str] = [
        name
        for name, visible in (
            (Section.APPLICATIONS, show_applications),
            (Section.LOANS, show_loans),
            (Section.LEDGER, show_ledger),
        )
        if visible
    ]
    now = timezone.now()
    rows = _stored(shown)
    if any(name not in rows or _is_stale(rows[name], today, now) for name in shown):
        from .tasks import refresh_dashboard_figures_task  # tasks import the services, which import figures

        send_task_soon(refresh_dashboard_figures_task, key="dashboard.refresh_figures")
        if refresh_dashboard_figures_task.app.conf.task_always_eager:
            rows = _stored(shown)
    page: dict = {"charts": [], "pending": [name for name in shown if name not in rows]}
    for name in shown:
        if name in rows:
            figures = dict(rows[name].figures)
            page["charts"] += figures.pop("charts")
            if figures:
                page[name] = figures
    times = [rows[name].computed_at for name in shown if name in rows]
    page["computed_at"] = min(times) if times else None
    page["stale"] = any(_is_stale(rows[name], today, now) for name in shown if name in rows)
    return page


def dashboard_page_for(user, *, today: date) -> dict:
    """dashboard_page with the sections `user` may see: each needs the view permission of what it
    counts (the dashboard page and Finance's landing show the same)."""
    return dashboard_page(
        today=today,
        show_applications=user.has_perm("applications.view_loanapplication"),
        show_loans=user.has_perm("loans.view_driverloan") and user.has_perm("loans.view_installment"),
        show_ledger=user.has_perm("ledger.view_openitem"),
    )
