"""The dashboard's one change: its stored figures computed again (models.py)."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from .figures import SECTIONS, compute_section
from .models import DashboardSection

# A refresh asked for within this time of the last one is skipped: a beat tick and the pages that
# found the figures stale in the same moment compute them once, not once each.
MIN_INTERVAL = timedelta(seconds=20)


@transaction.atomic
def refresh_dashboard_figures(*, today: date, force: bool = False) -> list[str]:
    """Compute every section and store it (one upsert); the names of the sections refreshed, none
    when every section was computed for `today` less than MIN_INTERVAL ago (unless `force`)."""
    now = timezone.now()
    if not force:
        fresh = DashboardSection.objects.filter(computed_for=today, computed_at__gt=now - MIN_INTERVAL)
        if fresh.count() == len(SECTIONS):
            return []
    rows = [
        DashboardSection(name=name, figures=compute_section(name, today), computed_for=today, computed_at=now)
        for name in SECTIONS
    ]
    DashboardSection.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["name"], update_fields=["figures", "computed_for", "computed_at"]
    )
    return [row.name for row in rows]
