"""The dashboard's beat job: its figures computed before anyone asks (figures.py)."""

from celery import shared_task
from django.utils import timezone

from .figures import refresh_dashboard_figures


@shared_task(name="dashboard.refresh_figures")
def refresh_dashboard_figures_task() -> None:
    refresh_dashboard_figures(today=timezone.localdate())
