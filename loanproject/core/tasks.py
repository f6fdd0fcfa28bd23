"""Celery tasks of the core app."""

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings

from .outbox import redeliver_unprocessed_events, relay_pending_events
from .retention import purge_old_outbox_records


@shared_task(name="core.relay_outbox", ignore_result=True, acks_late=False)
def relay_outbox_task() -> dict[str, Any]:
    """Publish pending outbox events (kicked after commit, and every few seconds by beat)."""
    return relay_pending_events().as_dict()


@shared_task(name="core.redeliver_outbox_events", ignore_result=True)
def redeliver_outbox_events_task() -> int:
    """Beat, every 2 minutes: publish again the events a subscriber has not processed
    OUTBOX_REDELIVER_AFTER_SECONDS after their publication (their messages were lost with the
    broker), with backoff, at most OUTBOX_MAX_REDELIVERIES times. No retries of its own: the next
    tick does what this one could not."""
    return redeliver_unprocessed_events()


@shared_task(name="core.purge_outbox_records", ignore_result=True)
def purge_outbox_records_task() -> dict[str, Any]:
    """Nightly: delete old published events, consumer receipts and idempotency keys."""
    return purge_old_outbox_records(
        older_than=timedelta(days=settings.OUTBOX_RETENTION_DAYS),
        idempotency_keys_older_than=timedelta(days=settings.IDEMPOTENCY_KEY_RETENTION_DAYS),
    ).as_dict()


@shared_task(name="core.build_export", ignore_result=True)
def build_export_task(job_id: int) -> str:
    """Build an export job's file (queued by request_report_export, or again by the sweep)."""
    from .export_jobs import build_export

    return build_export(job_id=job_id).status


@shared_task(name="core.recover_stalled_exports", ignore_result=True)
def recover_stalled_exports_task() -> dict[str, list[int]]:
    """Beat, every minute: send again the export jobs whose message or worker was lost; fail those
    that lost EXPORT_MAX_ATTEMPTS builds (with the reason)."""
    from .export_jobs import recover_stalled_exports

    return recover_stalled_exports().as_dict()
