"""Celery tasks of the agents app."""

from __future__ import annotations

from celery import shared_task

from loanproject.core.audit import acting_as_system
from loanproject.core.consumers import consume_once
from loanproject.core.models import OutboxEvent

from . import services

SCORE_SUBMITTED = "agents.score_submitted_application"


@shared_task(name=SCORE_SUBMITTED)
def score_submitted_application_task(event_id: int) -> bool:
    """Consumer of `application.submitted`: scores the application once per event."""

    def handle(event: OutboxEvent) -> None:
        services.score_applications(application_ids=[event.payload["application_id"]], trigger="submitted")

    with acting_as_system():
        return consume_once(consumer=SCORE_SUBMITTED, event_id=event_id, handle=handle)


@shared_task(name="agents.score_applications")
def score_applications_task(application_ids: list[str], trigger: str = "rescore") -> dict:
    """Scores applications that staff sent back to scoring."""
    with acting_as_system():
        return services.score_applications(application_ids=application_ids, trigger=trigger).as_dict()
