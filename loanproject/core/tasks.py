"""Celery tasks of the core app."""

from celery import shared_task

from .outbox import relay_pending_events


@shared_task(name="core.relay_outbox", ignore_result=True, acks_late=False)
def relay_outbox_task() -> dict:
    """Publish pending outbox events (kicked after commit, and every few seconds by beat)."""
    return relay_pending_events().as_dict()
