"""Published events that a subscriber has not processed come back by themselves: beat's sweep
republishes them OUTBOX_REDELIVER_AFTER_SECONDS after they were published, backing off, at most
OUTBOX_MAX_REDELIVERIES times, and reads only the window where such events can be."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY

from loanproject.core.bulk import insert_rows
from loanproject.core.consumers import consume_once
from loanproject.core.models import OutboxEvent, ProcessedEvent
from loanproject.core.outbox import (
    abandoned_events,
    publish_event,
    redeliver_unprocessed_events,
    relay_pending_events,
    republish_events,
)

from .consumer_tasks import effects_of

AFTER = 300
RECORD = {"order.placed": ["tests.record_event"], "order.shipped": []}
LOST = {"order.placed": ["tests.lost_message"]}
BOUNDS = {"OUTBOX_REDELIVER_AFTER_SECONDS": AFTER, "OUTBOX_MAX_REDELIVERIES": 3}

pytestmark = pytest.mark.django_db


def _publish(topic: str = "order.placed") -> OutboxEvent:
    return publish_event(topic=topic, aggregate_type="tests.Order", aggregate_id=7, payload={"n": 1})


def _published(seconds_ago: float, topic: str = "order.placed", *, now=None) -> OutboxEvent:
    event = _publish(topic)
    OutboxEvent.objects.filter(pk=event.pk).update(
        published_at=(now or timezone.now()) - timedelta(seconds=seconds_ago), attempts=1
    )
    return event


def _republished_count(topic: str, trigger: str) -> float:
    return REGISTRY.get_sample_value("outbox_events_republished_total", {"topic": topic, "trigger": trigger}) or 0.0


@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD, **BOUNDS)
def test_the_sweep_republishes_what_a_subscriber_has_not_processed_after_the_bound_and_nothing_else(
    django_capture_on_commit_callbacks,
):
    now = timezone.now()
    lost = _published(AFTER + 10, now=now)  # its message was lost with the broker: no receipt
    young = _published(AFTER - 10, now=now)  # may still wait in the queue
    processed = _published(AFTER + 10, now=now)
    consume_once(consumer="tests.record_event", event_id=processed.pk, handle=lambda event: None)
    unsubscribed = _published(AFTER + 10, "order.shipped", now=now)
    pending = _publish()  # not published yet: the relay's business
    beyond_window = _published(AFTER * 2**3 + 10, now=now)  # past the whole backoff schedule
    counted_before = _republished_count("order.placed", "sweep")

    with django_capture_on_commit_callbacks(execute=True):
        assert redeliver_unprocessed_events(now=now) == 1

    rows = dict(OutboxEvent.objects.values_list("pk", "redeliveries"))
    still_published = set(OutboxEvent.objects.filter(published_at__isnull=False).values_list("pk", flat=True))
    assert rows == {lost.pk: 1, young.pk: 0, processed.pk: 0, unsubscribed.pk: 0, pending.pk: 0, beyond_window.pk: 0}
    assert still_published == {young.pk, processed.pk, unsubscribed.pk, beyond_window.pk}
    assert _republished_count("order.placed", "sweep") - counted_before == 1

    relay_pending_events()

    assert [effects_of(e.pk) for e in (lost, young, processed, beyond_window, pending)] == [1, 0, 0, 0, 1]
    assert ProcessedEvent.objects.filter(event_id=lost.pk).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        redeliver_unprocessed_events(now=now + timedelta(seconds=AFTER + 1))

    # Five minutes on, the young one is due too; the lost one was processed and stays published.
    assert list(
        OutboxEvent.objects.filter(topic="order.placed", published_at__isnull=True).values_list("pk", flat=True)
    ) == [young.pk]


@override_settings(OUTBOX_SUBSCRIPTIONS=LOST, **BOUNDS)
def test_an_event_nobody_processes_is_redelivered_with_backoff_three_times_then_left_to_staff():
    event = _publish()
    start = timezone.now()
    relay_pending_events(now=start)  # published; its message is never processed
    redelivered_at = []

    for minute in range(1, 121):  # beat's sweep, then its relay, every minute for two hours
        moment = start + timedelta(minutes=minute)
        if redeliver_unprocessed_events(now=moment):
            redelivered_at.append(minute)
        relay_pending_events(now=moment)

    event.refresh_from_db()
    # Due 5 min after its publication, then 10, then 20: each wait counts from the last publication.
    assert redelivered_at == [6, 17, 38]
    assert (event.redeliveries, event.attempts, event.published_at) == (3, 4, start + timedelta(minutes=38))
    assert list(abandoned_events(now=start + timedelta(minutes=120))) == [event]
    assert list(abandoned_events(now=start + timedelta(minutes=40))) == []  # the last try may still be running


@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD, **BOUNDS)
def test_staff_republish_an_abandoned_event_and_it_gets_a_new_schedule(django_capture_on_commit_callbacks):
    abandoned = _published(AFTER + 10)
    OutboxEvent.objects.filter(pk=abandoned.pk).update(redeliveries=3)
    processed = _published(AFTER + 10)
    consume_once(consumer="tests.record_event", event_id=processed.pk, handle=lambda event: None)
    counted_before = _republished_count("order.placed", "operator")

    with django_capture_on_commit_callbacks(execute=True):
        assert redeliver_unprocessed_events() == 0  # the sweep gave up on it
        assert republish_events(event_ids=[abandoned.pk, processed.pk]) == 1

    abandoned.refresh_from_db()
    assert (abandoned.redeliveries, abandoned.published_at) == (0, None)
    relay_pending_events()
    assert effects_of(abandoned.pk) == 1 and effects_of(processed.pk) == 0
    assert _republished_count("order.placed", "operator") - counted_before == 1
    assert list(abandoned_events()) == []


@override_settings(OUTBOX_SUBSCRIPTIONS=LOST, **BOUNDS)
def test_abandoned_events_are_counted_for_prometheus(client):
    abandoned = _published(AFTER + 10)
    OutboxEvent.objects.filter(pk=abandoned.pk).update(redeliveries=3)
    _published(AFTER + 10)  # not redelivered yet
    retrying = _published(AFTER + 10)
    OutboxEvent.objects.filter(pk=retrying.pk).update(redeliveries=2)

    body = client.get("/metrics").content.decode()

    assert "outbox_abandoned_events 1.0" in body.splitlines()


@override_settings(OUTBOX_SUBSCRIPTIONS=LOST, OUTBOX_REDELIVER_AFTER_SECONDS=AFTER, OUTBOX_MAX_REDELIVERIES=0)
def test_no_redeliveries_turns_the_sweep_off():
    lost = _published(AFTER + 10)

    assert redeliver_unprocessed_events() == 0

    lost.refresh_from_db()
    assert (lost.redeliveries, lost.published_at is not None) == (0, True)
    assert list(abandoned_events()) == []


@override_settings(OUTBOX_SUBSCRIPTIONS=LOST, **BOUNDS)
def test_the_sweep_reads_its_window_through_an_index_never_the_whole_table():
    now = timezone.now()
    long_ago = now - timedelta(days=20)
    insert_rows(  # a month of history the sweep must not read
        OutboxEvent,
        [
            "topic",
            "aggregate_type",
            "aggregate_id",
            "payload",
            "created_at",
            "available_at",
            "published_at",
            "attempts",
            "last_error",
            "redeliveries",
        ],
        [("order.placed", "tests.Order", str(n), {}, long_ago, long_ago, long_ago, 1, "", 0) for n in range(20000)],
    )
    _published(AFTER + 10, now=now)  # the one event to redeliver
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_outboxevent")

    with CaptureQueriesContext(connection) as captured:
        assert redeliver_unprocessed_events(now=now) == 1

    scan = next(
        q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT") and "FOR UPDATE" in q["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + scan)
        nodes = list(_plan_nodes(cursor.fetchone()[0][0]["Plan"]))
    outbox_reads = {
        (node["Node Type"], node.get("Index Name")) for node in nodes if node.get("Relation Name") == "core_outboxevent"
    }
    assert outbox_reads == {("Index Scan", "outbox_published_idx")}
    assert "published_at" in next(
        node["Index Cond"] for node in nodes if node.get("Index Name") == "outbox_published_idx"
    )


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD, **BOUNDS)
def test_many_events_are_republished_batch_after_batch(monkeypatch):
    from loanproject.core import outbox

    monkeypatch.setattr(outbox, "REPUBLISH_BATCH_SIZE", 2)
    now = timezone.now()
    lost = [_published(AFTER + 60 - n, now=now) for n in range(5)]
    processed = _published(AFTER + 58.5, now=now)  # between them in publication order
    consume_once(consumer="tests.record_event", event_id=processed.pk, handle=lambda event: None)

    assert redeliver_unprocessed_events(now=now) == 5

    assert set(OutboxEvent.objects.filter(redeliveries=1, published_at__isnull=True).values_list("pk", flat=True)) == {
        e.pk for e in lost
    }
    assert OutboxEvent.objects.get(pk=processed.pk).redeliveries == 0
