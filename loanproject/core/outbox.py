"""Transactional outbox: write events with the business change, publish them after commit.

`publish_event` is called inside a service's transaction. After commit, a kick asks a worker to
run the relay at once, through the process's sender thread so that no request waits on the broker
(`broker.send_task_soon`); the beat schedule runs the relay every few seconds as well, so an event
whose kick was lost (broker down, process killed) is still published. The relay hands each event to the
Celery tasks subscribed to its topic in settings.OUTBOX_SUBSCRIPTIONS and marks it published; if
the broker refuses, the event stays pending and is retried with exponential backoff. If the broker
loses an event's messages after it took them, beat's redelivery sweep publishes the event again
(`redeliver_unprocessed_events`). Delivery is at least once; consumers make it at most once with
`consumers.consume_once`.
"""

from __future__ import annotations

import logging
import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from celery import current_app
from celery.app.task import Task
from celery.exceptions import NotRegistered
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from .broker import send_task_soon
from .bulk import insert_rows
from .errors import DomainError
from .metrics import OUTBOX_EVENTS_REPUBLISHED, increment_after_commit
from .models import OutboxEvent, ProcessedEvent

logger = logging.getLogger(__name__)


def publish_event(
    *, topic: str, aggregate_type: str, aggregate_id: object, payload: dict[str, Any] | None = None
) -> OutboxEvent:
    """Record an event in the current transaction; it is relayed once the transaction commits."""
    event = OutboxEvent.objects.create(
        topic=topic, aggregate_type=aggregate_type, aggregate_id=str(aggregate_id), payload=payload or {}
    )
    _kick_relay_after_commit()
    return event


def publish_events(*, events: list[dict[str, Any]]) -> int:
    """Record many events at once (batch jobs); each dict has publish_event's arguments."""
    now = timezone.now()
    count = insert_rows(
        OutboxEvent,
        [
            "topic",
            "aggregate_type",
            "aggregate_id",
            "payload",
            "created_at",
            "available_at",
            "attempts",
            "last_error",
            "redeliveries",
        ],
        [
            (e["topic"], e["aggregate_type"], str(e["aggregate_id"]), e.get("payload") or {}, now, now, 0, "", 0)
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

    def as_dict(self) -> dict[str, Any]:
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


def subscriber_task(name: str) -> Task[Any, Any]:
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
        task.apply_async(args=(event.pk,), retry=True, retry_policy=settings.OUTBOX_PUBLISH_RETRY_POLICY)
        deliveries += 1
    return deliveries


def relay_pending_events(
    *,
    batch_size: int | None = None,
    max_batches: int = 50,
    now: datetime | None = None,
    on_progress: Callable[[int], object] | None = None,
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
        published_ids: list[int] = []
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
    OutboxEvent.objects.filter(pk__in=event_ids).update(published_at=moment, last_error="", attempts=F("attempts") + 1)


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


# --- Redelivery: published events a subscriber has not processed ----------------------------------
#
# The relay marks an event published once the broker took its messages. If the broker then loses
# them (a flushed or restarted Redis without persistence), nothing brings them back: a message
# taken by a worker that died comes back by itself after CELERY_VISIBILITY_TIMEOUT, but one lost
# with the broker never does. Every consumer records a receipt (`consumers.consume_once`), so "some
# subscriber of its topic has no receipt" finds exactly the events still owed a delivery. Making
# such an event pending again lets the relay hand it to every subscriber once more; those that
# processed it already skip it.

REPUBLISH_BATCH_SIZE = 1000
SWEEP, OPERATOR = "sweep", "operator"


def _not_processed_by_some_subscriber() -> Q:
    """Events that a subscriber of their topic has no receipt for (topics nobody subscribes to
    never match: nothing is owed)."""
    unprocessed = Q(pk__in=[])  # matches nothing
    for topic, consumers in settings.OUTBOX_SUBSCRIPTIONS.items():
        if consumers:
            missing_a_receipt = reduce(
                operator.or_,
                (
                    Q(~Exists(ProcessedEvent.objects.filter(consumer=consumer, event_id=OuterRef("pk"))))
                    for consumer in consumers
                ),
            )
            unprocessed |= Q(topic=topic) & missing_a_receipt
    return unprocessed


def unprocessed_events() -> QuerySet[OutboxEvent]:
    """Published events that some subscriber of their topic has not processed (yet). Narrow it to a
    range of `published_at` (outbox_published_idx) or to the redelivered ones: never the whole table."""
    return OutboxEvent.objects.filter(_not_processed_by_some_subscriber(), published_at__isnull=False)


def redelivery_delay(redeliveries: int) -> timedelta:
    """How long after its last publication an unprocessed event waits before the next redelivery:
    OUTBOX_REDELIVER_AFTER_SECONDS, doubled at each redelivery (5, 10, 20, 40, 80 minutes)."""
    delay: timedelta = timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER_SECONDS) * 2**redeliveries
    return delay


def redeliver_unprocessed_events(*, now: datetime | None = None) -> int:
    """Beat's recovery of deliveries lost with the broker: publish again the events that a
    subscriber has not processed `redelivery_delay(redeliveries)` after their last publication, at
    most OUTBOX_MAX_REDELIVERIES times each (0: never). Returns how many were made pending.

    Only the window where such an event can be is read, through outbox_published_idx: published
    between redelivery_delay(OUTBOX_MAX_REDELIVERIES) ago (the whole backoff schedule, with as much
    again to spare for missed ticks) and OUTBOX_REDELIVER_AFTER_SECONDS ago. Older unprocessed
    events were given up (`abandoned_events`) or missed while beat was down
    (`relay_outbox --republish-since`)."""
    now = now or timezone.now()
    limit = settings.OUTBOX_MAX_REDELIVERIES
    due = reduce(
        operator.or_,
        (Q(redeliveries=n, published_at__lt=now - redelivery_delay(n)) for n in range(limit)),
        Q(pk__in=[]),
    )
    window = Q(published_at__gte=now - redelivery_delay(limit), published_at__lt=now - redelivery_delay(0))
    return _republish(unprocessed_events().filter(window, due), now=now, trigger=SWEEP)


def abandoned_events(*, now: datetime | None = None) -> QuerySet[OutboxEvent]:
    """Events the sweep gave up on: redelivered OUTBOX_MAX_REDELIVERIES times and still not
    processed by a subscriber OUTBOX_REDELIVER_AFTER_SECONDS after the last time: a consumer that
    fails on them every time. Read through outbox_redelivered_idx (the few ever redelivered)."""
    limit = settings.OUTBOX_MAX_REDELIVERIES
    if limit == 0:
        return OutboxEvent.objects.none()
    return unprocessed_events().filter(
        redeliveries__gt=0, redeliveries__gte=limit, published_at__lt=(now or timezone.now()) - redelivery_delay(0)
    )


def republish_events_since(*, since: datetime) -> int:
    """Make pending again the events published at or after `since` that some subscriber of their
    topic has not processed yet, so the relay hands them out once more (an operator's recovery
    after the broker lost its queue; the sweep does it by itself within its window). Events every
    subscriber already processed stay published; a consumer that processed an event republished
    for another skips it (consumers are idempotent).

    `since` must reach back past the messages the broker held when it was lost: those waiting,
    and those taken but not yet acknowledged (up to CELERY_VISIBILITY_TIMEOUT before the loss)."""
    if since > timezone.now():
        raise DomainError("The time to republish from is in the future.", code="invalid_since")
    return _republish(unprocessed_events().filter(published_at__gte=since), now=timezone.now(), trigger=OPERATOR)


def republish_events(*, event_ids: list[int]) -> int:
    """Staff's "republish" of chosen events (abandoned ones, once their consumer is fixed): those a
    subscriber has not processed are made pending again with a fresh redelivery schedule."""
    return _republish(unprocessed_events().filter(pk__in=event_ids), now=timezone.now(), trigger=OPERATOR)


def _republish(events: QuerySet[OutboxEvent], *, now: datetime, trigger: str) -> int:
    """Make `events` pending again, a locked batch at a time in publication order, and kick the
    relay. The sweep counts a redelivery; an operator's republication starts the count again."""
    total = 0
    ordered = events.order_by("published_at", "pk")
    while True:
        with transaction.atomic():
            batch = list(
                ordered.select_for_update(skip_locked=True).values_list("pk", "topic", "published_at")[
                    :REPUBLISH_BATCH_SIZE
                ]
            )
            if not batch:
                break
            OutboxEvent.objects.filter(pk__in=[pk for pk, _, _ in batch]).update(
                published_at=None, available_at=now, redeliveries=F("redeliveries") + 1 if trigger == SWEEP else 0
            )
            for topic, count in Counter(topic for _, topic, _ in batch).items():
                increment_after_commit(OUTBOX_EVENTS_REPUBLISHED, count, topic=topic, trigger=trigger)
            _kick_relay_after_commit()
        total += len(batch)
        if len(batch) < REPUBLISH_BATCH_SIZE:
            break
        # Republished rows left the range (published_at is NULL now); start after the last one so
        # the processed rows before it are not read again.
        last_published_at, last_pk = batch[-1][2], batch[-1][0]
        ordered = ordered.filter(
            Q(published_at__gt=last_published_at) | Q(published_at=last_published_at, pk__gt=last_pk)
        )
    if total:
        logger.warning(
            "outbox: %s published event(s) a subscriber had not processed made pending again (%s)", total, trigger
        )
    return total
