"""Celery tasks of the core app."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from .outbox import relay_pending_events
from .retention import purge_old_outbox_records


@shared_task(name="core.relay_outbox", ignore_result=True, acks_late=False)
def relay_outbox_task() -> dict:
    """Publish pending outbox events (kicked after commit, and every few seconds by beat)."""
    return relay_pending_events().as_dict()


@shared_task(name="core.purge_outbox_records", ignore_result=True)
def purge_outbox_records_task() -> dict:
    """Nightly: delete old published events, consumer receipts and idempotency keys."""
    return purge_old_outbox_records(
        older_than=timedelta(days=settings.OUTBOX_RETENTION_DAYS),
        idempotency_keys_older_than=timedelta(days=settings.IDEMPOTENCY_KEY_RETENTION_DAYS),
    ).as_dict()
