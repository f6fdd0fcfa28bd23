from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from conftest import celery_broker, running_worker, wait_until
from loanproject.core.consumers import consume_once
from loanproject.core.models import OutboxEvent, ProcessedEvent
from loanproject.core.outbox import backoff_delay, kick_relay, publish_event, relay_pending_events, retry_events_now

from .consumer_tasks import FAILURES, effects_of, record_event_task

RECORD = {"order.placed": ["tests.record_event"]}
FLAKY = {"order.placed": ["tests.flaky_consumer"]}
NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1: the broker is "down"


def _publish(topic: str = "order.placed") -> OutboxEvent:
    return publish_event(topic=topic, aggregate_type="tests.Order", aggregate_id=7, payload={"n": 1})


@pytest.mark.django_db
def test_an_event_exists_only_if_its_transaction_commits():
    with pytest.raises(RuntimeError), transaction.atomic():
        _publish()
        raise RuntimeError("business change failed")

    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db
def test_one_relay_kick_per_transaction_however_many_events(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        _publish()
        _publish()
        _publish()

    assert [callback for callback in callbacks if callback is kick_relay] == [kick_relay]


@pytest.mark.django_db
@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD)
def test_relay_hands_the_event_to_its_subscriber_and_marks_it_published():
    event = _publish()

    report = relay_pending_events()

    event.refresh_from_db()
    assert (report.published, report.failed, report.deliveries) == (1, 0, 1)
    assert event.published_at is not None
    assert event.attempts == 1
    assert effects_of(event.pk) == 1
    assert ProcessedEvent.objects.filter(consumer="tests.record_event", event_id=event.pk).count() == 1


@pytest.mark.django_db
def test_an_event_nobody_subscribes_to_is_marked_published():
    event = _publish("nobody.listens")

    report = relay_pending_events()

    event.refresh_from_db()
    assert (report.published, report.deliveries) == (1, 0)
    assert event.published_at is not None


@pytest.mark.django_db
@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD)
def test_a_redelivered_event_is_processed_once():
    event = _publish()
    relay_pending_events()

    assert record_event_task.apply(args=[event.pk]).get() is False
    assert record_event_task.apply(args=[event.pk]).get() is False

    assert effects_of(event.pk) == 1
    assert ProcessedEvent.objects.filter(event_id=event.pk).count() == 1


@pytest.mark.django_db
@override_settings(OUTBOX_SUBSCRIPTIONS=FLAKY)
def test_a_failing_delivery_backs_off_and_succeeds_later():
    event = _publish()
    FAILURES["remaining"] = 1
    before = timezone.now()

    first = relay_pending_events()

    event.refresh_from_db()
    assert (first.published, first.failed) == (0, 1)
    assert event.published_at is None
    assert event.attempts == 1
    assert "consumer is down" in event.last_error
    assert event.available_at >= before + timedelta(seconds=1)
    assert effects_of(event.pk) == 0
    assert ProcessedEvent.objects.count() == 0  # the failed attempt left no receipt

    assert relay_pending_events().published == 0  # not due yet: it is backing off

    second = relay_pending_events(now=timezone.now() + timedelta(seconds=2))

    event.refresh_from_db()
    assert (second.published, second.failed) == (1, 0)
    assert event.published_at is not None
    assert event.attempts == 2
    assert event.last_error == ""
    assert effects_of(event.pk) == 1


@pytest.mark.django_db
def test_retry_now_makes_a_backed_off_event_due():
    event = _publish()
    OutboxEvent.objects.filter(pk=event.pk).update(available_at=timezone.now() + timedelta(hours=1))

    assert retry_events_now(event_ids=[event.pk]) == 1

    assert relay_pending_events().published == 1


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_delay(n).total_seconds() for n in (1, 2, 3, 4, 9, 10, 30)] == [1, 2, 4, 8, 256, 300, 300]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD)
def test_broker_outage_loses_nothing_and_a_real_worker_processes_the_event_once(redis_broker):
    with celery_broker(NOWHERE):
        event = _publish()  # the on-commit kick fails quietly: the broker is down
        outage = relay_pending_events()

    event.refresh_from_db()
    assert (outage.published, outage.failed) == (0, 1)
    assert event.published_at is None
    assert event.attempts == 1
    assert "Error" in event.last_error

    # The broker is back (redis_broker): the scheduled relay publishes, a worker consumes.
    recovered = relay_pending_events(now=timezone.now() + timedelta(seconds=2))
    assert (recovered.published, recovered.failed) == (1, 0)
    with running_worker(redis_broker):
        wait_until(lambda: effects_of(event.pk) == 1)
        # The broker delivers the same event twice more (at-least-once): nothing happens twice.
        record_event_task.apply_async(args=[event.pk])
        record_event_task.apply_async(args=[event.pk])
        wait_until(lambda: _queue_is_empty(redis_broker))

    event.refresh_from_db()
    assert event.published_at is not None
    assert effects_of(event.pk) == 1
    assert ProcessedEvent.objects.filter(consumer="tests.record_event", event_id=event.pk).count() == 1


def _queue_is_empty(app) -> bool:
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        # The message is gone from the queue and no longer unacked (acks_late): fully processed.
        return client.llen("celery") == 0 and client.hlen("unacked") == 0


def test_a_web_process_finds_an_unimported_subscriber_without_setting_django_up_again(monkeypatch):
    import sys

    import django
    from celery import current_app

    import loanproject.core.tasks
    from loanproject.core.outbox import subscriber_task

    module = sys.modules["loanproject.core.tasks"]
    tasks = {name: t for name, t in current_app.tasks.items() if t.__module__ == module.__name__}
    task = tasks["core.relay_outbox"]
    setups = []
    monkeypatch.setattr(django, "setup", lambda *args, **kwargs: setups.append(args))
    # As in a web process that never imported loanproject.core.tasks:
    del sys.modules["loanproject.core.tasks"]
    for name in tasks:
        current_app.tasks.unregister(name)
    try:
        found = subscriber_task("core.relay_outbox")
    finally:
        sys.modules["loanproject.core.tasks"] = loanproject.core.tasks = module
        current_app.tasks.update(tasks)

    assert found.name == "core.relay_outbox" and found is not task
    assert setups == []


@pytest.mark.django_db
@override_settings(OUTBOX_SUBSCRIPTIONS={**RECORD, "order.shipped": []})
def test_republishing_after_a_lost_queue_redoes_only_what_no_consumer_processed(capsys):
    from django.core.management import call_command

    def published(minutes_ago: int, topic: str = "order.placed") -> OutboxEvent:
        event = _publish(topic)
        OutboxEvent.objects.filter(pk=event.pk).update(
            published_at=timezone.now() - timedelta(minutes=minutes_ago), attempts=1
        )
        return event

    before_window = published(300)  # published before the window the operator names: left alone
    queued_when_lost = published(30)  # waiting in the broker when it lost its queue: no receipt
    delivered = published(20)
    consume_once(consumer="tests.record_event", event_id=delivered.pk, handle=lambda event: None)
    after_the_loss = published(5)  # published into the empty broker since: not lost, not yet consumed
    unsubscribed = published(10, topic="order.shipped")

    call_command("relay_outbox", "--republish-since", (timezone.now() - timedelta(hours=1)).isoformat())

    assert capsys.readouterr().out.startswith("made 2 published event(s) pending again\n")
    assert [effects_of(e.pk) for e in (before_window, queued_when_lost, delivered, after_the_loss)] == [0, 1, 0, 1]
    assert ProcessedEvent.objects.filter(event_id=delivered.pk).count() == 1
    assert set(
        OutboxEvent.objects.filter(pk__in=[before_window.pk, unsubscribed.pk]).values_list("attempts", flat=True)
    ) == {1}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value, message",
    [
        ("yesterday", "is not an ISO 8601 time"),
        ((timezone.now() + timedelta(days=1)).isoformat(), "The time to republish from is in the future."),
    ],
    ids=["not-a-time", "tomorrow"],  # a timestamp in the id differs between xdist workers
)
def test_republishing_refuses_a_bad_time_and_changes_nothing(value, message):
    from django.core.management import CommandError, call_command

    event = _publish()
    OutboxEvent.objects.filter(pk=event.pk).update(published_at=timezone.now())

    with pytest.raises(CommandError, match=message):
        call_command("relay_outbox", "--republish-since", value)

    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
