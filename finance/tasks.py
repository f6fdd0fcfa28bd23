"""Celery tasks of the finance app: doors that parse ids and dates and call the services."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from loanproject.core.audit import acting_as_system, system_user

from . import services


@shared_task(name="finance.take_net_worth_snapshots", ignore_result=True)
def take_net_worth_snapshots_task(on: str | None = None) -> dict:
    """Snapshot every customer with an open account for today (nightly at 01:30, see
    CELERY_BEAT_SCHEDULE: the day that has just begun). `on`, if given, must be today: any other
    day is a DomainError, which is not retried.

    Idempotent: a redelivered or repeated run creates nothing twice.
    """
    with acting_as_system():
        report = services.take_net_worth_snapshots(on=date.fromisoformat(on) if on else None, started_by=system_user())
    return report.as_dict()
