"""Transactional outbox: write events with the business change, publish them after commit.

`publish_event` is called inside a service's transaction. After commit, a kick asks a worker to
run the relay at once, through the process's sender thread so that no request waits on the broker
(`broker.send_task_soon`); the beat schedule runs the relay every few seconds as well, so an event
whose kick was lost (broker down, process killed) is still published. The relay hands each event to the
Celery tasks subscribed to its topic in settings.OUTBOX_SUBSCRIPTIONS and marks it published; if
the broker refuses, the event stays pending and is retried with exponential backoff. Delivery is
at least once; consumers make it at most once with `consumers.consume_once`.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce

from celery import current_app
from celery.exceptions import NotRegistered
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from .broker import send_task_soon
from .bulk import insert_rows
from .errors import DomainError
from .models import OutboxEvent, ProcessedEvent

logger = logging.getLogger(__name__)


def publish_event(
    *, topic: str, aggregate_type: str, aggregate_id: object, payload: dict | None = None
) -> OutboxEvent:
    """Record an event in the current transaction; it is relayed once the transaction commits."""
    event = OutboxEvent.objects.create(
        topic=topic,
        aggregate_type=aggregate_type,
        aggregate_id=str(aggregate_id),
        payload=payload or {},
    )
    _kick_relay_after_commit()
    return event


def publish_events(*, events: list[dict]) -> int:
    """Record many events at once (batch jobs); each dict has publish_event's arguments."""
    now = timezone.now()
    count = insert_rows(
        OutboxEvent,
        ["topic", "aggregate_type", "aggregate_id", "payload", "created_at", "available_at", "attempts", "last_error"],
        [
            (e["topic"], e["aggregate_type"], str(e["aggregate_id"]), e.get("payload") or {}, now, now, 0, "")
            for e in events
        ],
    )
    if count:
        _kick_relay_after_commit()
    return count


def _kick_relay_after_commit() -> None:
    """One kick per transaction, however many events it writes."""
    connection = transaction.get_connection()
    if not any(callback is kick_relay for _, callback, _ in connection.run_on_commit):
        transaction.on_commit(kick_relay, robust=True)


def kick_relay() -> None:
    """Ask a worker to relay now, without waiting on the broker: the kick is handed to the
    process's sender thread (`broker.send_task_soon`; inline when tasks run eagerly). Failure is
    harmless: the beat schedule relays anyway."""
    from .tasks import relay_outbox_task

    try:
        send_task_soon(relay_outbox_task, key=relay_outbox_task.name, expires=60)
    except Exception as exc:  # an eager relay failed; the periodic relay will catch up
        logger.warning("outbox relay kick failed, events wait for the schedule: %s", exc)


@dataclass
class RelayReport:
    published: int = 0
    failed: int = 0
    deliveries: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "published": self.published,
            "failed": self.failed,
            "deliveries": self.deliveries,
            "errors": self.errors,
        }


def backoff_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... capped at OUTBOX_MAX_BACKOFF_SECONDS."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), settings.OUTBOX_MAX_BACKOFF_SECONDS))


def subscribers_of(topic: str) -> list[str]:
    return list(settings.OUTBOX_SUBSCRIPTIONS.get(topic, ()))


def subscriber_task(name: str):
    """The Celery task registered under `name`, importing the apps' tasks modules if needed
    (a web process has not imported them; a worker has).

    Only the tasks modules: the loader's import_default_modules() would make Celery's Django
    fixup run django.setup() and the system checks again, which also reconfigures logging.
    """
    try:
        return current_app.tasks[name]
    except NotRegistered:
        from django.apps import apps

        current_app.loader.autodiscover_tasks([config.name for config in apps.get_app_configs()])
        return current_app.tasks[name]


def _deliver(event: OutboxEvent) -> int:
    deliveries = 0
    for task_name in subscribers_of(event.topic):
        task = subscriber_task(task_name)
        task.apply_async(
            args=[event.pk],
            retry=True,
            retry_policy=settings.OUTBOX_PUBLISH_RETRY_POLICY,
        )
        deliveries += 1
    return deliveries


def relay_pending_events(
    *,
    batch_size: int | None = None,
    max_batches: int = 50,
    now: datetime | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RelayReport:
    """Publish due events in id order, a locked batch at a time.

    Rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED, so several relays share the work
    without publishing the same row at once. A failing publish backs that event off and ends the
    run: when the broker is down, the next events would only fail the same way.
    `on_progress(n)` is called after each batch with the events it handled (progress bars).
    """
    batch_size = batch_size or settings.OUTBOX_BATCH_SIZE
    report = RelayReport()
    for _ in range(max_batches):
        handled_before = report.published + report.failed
        claimed, stop = _relay_one_batch(batch_size=batch_size, now=now, report=report)
        if on_progress is not None:
            on_progress(report.published + report.failed - handled_before)
        if stop or claimed < batch_size:
            break
    return report


def _relay_one_batch(*, batch_size: int, now: datetime | None, report: RelayReport) -> tuple[int, bool]:
    moment = now or timezone.now()
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True, available_at__lte=moment)
            .order_by("id")[:batch_size]
        )
        published_ids = []
        for event in events:
            try:
                report.deliveries += _deliver(event)
            except Exception as exc:
                event.attempts += 1
                event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                event.available_at = moment + backoff_delay(event.attempts)
                event.save(update_fields=["attempts", "last_error", "available_at"])
                report.failed += 1
                report.errors.append(f"event {event.pk}: {event.last_error}")
                logger.warning("outbox event %s not published: %s", event.pk, event.last_error)
                if published_ids:
                    _mark_published(published_ids, moment)
                    report.published += len(published_ids)
                return len(events), True
            published_ids.append(event.pk)
        if published_ids:
            _mark_published(published_ids, moment)
            report.published += len(published_ids)
    return len(events), False


def _mark_published(event_ids: list[int], moment: datetime) -> None:
    OutboxEvent.objects.filter(pk__in=event_ids).update(
        published_at=moment, last_error="", attempts=F("attempts") + 1
    )


def pending_events_count(*, due_only: bool = False) -> int:
    pending = OutboxEvent.objects.filter(published_at__isnull=True)
    return (pending.filter(available_at__lte=timezone.now()) if due_only else pending).count()


def retry_events_now(*, event_ids: list[int]) -> int:
    """Make pending events due immediately (an operator's "retry now")."""
    updated = OutboxEvent.objects.filter(pk__in=event_ids, published_at__isnull=True).update(
        available_at=timezone.now()
    )
    if updated:
        _kick_relay_after_commit()
    return updated


def republish_events_since(*, since: datetime) -> int:
    """Make pending again the events published at or after `since` that some subscriber of their
    topic has not processed yet, so the relay hands them out once more: the recovery after the
    broker lost its queued messages (a Redis without persistence that restarted). Events every
    subscriber already processed stay published; a consumer that processed an event republished
    for another skips it (consumers are idempotent).

    `since` must reach back past the messages the broker held when it was lost: those waiting,
    and those taken but not yet acknowledged (up to CELERY_VISIBILITY_TIMEOUT before the loss)."""
    if since > timezone.now():
        raise DomainError("The time to republish from is in the future.", code="invalid_since")
    undelivered = Q(pk__in=[])  # matches nothing: topics nobody subscribes to have nothing to redo
    for topic, consumers in settings.OUTBOX_SUBSCRIPTIONS.items():
        if consumers:
            not_processed_by_one = reduce(operator.or_, (
                Q(~Exists(ProcessedEvent.objects.filter(consumer=consumer, event_id=OuterRef("pk")))) for consumer in consumers
            ))
            undelivered |= Q(topic=topic) & not_processed_by_one
    with transaction.atomic():
        updated = OutboxEvent.objects.filter(undelivered, published_at__gte=since).update(
            published_at=None, available_at=timezone.now()
        )
        if updated:
            _kick_relay_after_commit()
    return updated
