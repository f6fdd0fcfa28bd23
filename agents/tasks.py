"""Celery tasks of the agents app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from loanproject.core.audit import acting_as_system
from loanproject.core.consumers import outbox_consumer
from loanproject.core.models import OutboxEvent

from . import services
from .models import ScoringTrigger

# Lost connections, lock timeouts, applications another transaction holds: the task's transaction
# rolled back whole, so running it again is safe.
RETRYABLE = (OperationalError, InterfaceError, services.ApplicationsLocked)
RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": RETRYABLE,
    "retry_backoff": True,  # 1 s, 2 s, 4 s ... with jitter, at most 5 minutes apart
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,  # then the sweep scores the application
}


@outbox_consumer("agents.score_submitted_application", **RETRY_POLICY)
def score_submitted_application_task(event: OutboxEvent) -> None:
    """Consumer of `application.submitted`: scores the application once per event."""
    services.score_applications(
        application_ids=[event.payload["application_id"]], trigger=ScoringTrigger.SUBMITTED, retry_locked=True
    )


@shared_task(name="agents.score_applications", **RETRY_POLICY)
def score_applications_task(application_ids: list[str], trigger: str = ScoringTrigger.RESCORE) -> dict:
    """Scores applications that staff sent back to scoring."""
    with acting_as_system():
        return services.score_applications(
            application_ids=application_ids, trigger=trigger, retry_locked=True
        ).as_dict()


@shared_task(name="agents.score_stalled_applications")
def score_stalled_applications_task(unchanged_for_minutes: int = 10) -> dict:
    """Beat runs this every few minutes: scores applications left waiting for scoring. No retries
    of its own: the next run picks up whatever this one could not score."""
    with acting_as_system():
        report = services.score_stalled_applications(unchanged_for=timedelta(minutes=unchanged_for_minutes))
    return report.as_dict()
