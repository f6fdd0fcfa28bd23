"""The dashboard's beat job: its figures computed before anyone asks (models.py)."""

from celery import shared_task
from django.utils import timezone

from .services import refresh_dashboard_figures


@shared_task(name="dashboard.refresh_figures")
def refresh_dashboard_figures_task() -> list[str]:
    return refresh_dashboard_figures(today=timezone.localdate())
