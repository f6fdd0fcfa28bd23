"""A dead broker never holds the caller: the after-commit kick goes to the process's sender thread.

Two dead brokers: a port nothing listens on (connections refused) and a socket that accepts
connections and never answers (only a timeout ends a read there).
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import transaction
from django.test import override_settings

from conftest import celery_broker, wait_until
from loanproject.core import broker
from loanproject.core.models import OutboxEvent
from loanproject.core.outbox import publish_event
from loanproject.core.testing import SilentBroker, deadline, refused_broker_url

from .consumer_tasks import effects_of, record_event_task

RECORD = {"order.placed": ["tests.record_event"]}
FAST = 0.2  # seconds: a commit that waited on the broker takes 1 s (silent) to 6 s (refused), or for ever


def _publish() -> OutboxEvent:
    return publish_event(topic="order.placed", aggregate_type="tests.Order", aggregate_id=7, payload={"n": 1})


def _queued(app) -> int:
    with app.connection_for_write() as connection:
        return connection.default_channel.client.llen("celery")


@pytest.fixture(params=["refused", "silent"])
def dead_broker(request):
    """The Celery app pointed at a dead broker of each kind; yields the SilentBroker (or None)."""
    if request.param == "refused":
        with celery_broker(refused_broker_url()):
            yield None
    else:
        with SilentBroker() as silent, celery_broker(silent.url):
            yield silent


@pytest.mark.django_db(transaction=True)
@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD)
def test_a_commit_that_kicks_the_relay_does_not_wait_for_a_dead_broker(dead_broker):
    started = time.monotonic()
    with deadline(10), transaction.atomic():
        event = _publish()
    took = time.monotonic() - started

    assert took < FAST, f"the commit took {took:.2f} s"
    event.refresh_from_db()
    assert (event.published_at, event.attempts, event.last_error) == (None, 0, "")  # waits for the relay


@pytest.mark.django_db(transaction=True)
def test_a_silent_broker_gets_one_connection_per_pause_however_many_kicks():
    with SilentBroker() as silent, celery_broker(silent.url):
        with deadline(10):
            for _ in range(20):
                with transaction.atomic():
                    _publish()
        wait_until(lambda: broker._sender().attempts == 1, timeout=5)
        time.sleep(broker.SEND_TIMEOUT_SECONDS + 0.5)  # the first try timed out: the sender pauses

        assert broker._sender().attempts == 1
        assert len(silent.accepted) == 1


@pytest.mark.redis
def test_what_failed_is_sent_again_after_the_pause_and_equal_sends_waiting_together_go_once(redis_broker, monkeypatch):
    monkeypatch.setattr(broker, "PAUSE_AFTER_FAILURE_SECONDS", 0.3)
    sender = broker.BackgroundSender()
    sent: list[tuple[str, float]] = []
    release = threading.Event()

    def failing_once(connection) -> None:
        sent.append(("flaky", time.monotonic()))
        if len([name for name, _ in sent if name == "flaky"]) == 1:
            raise ConnectionError("broker restarting")

    def blocking(connection) -> None:
        release.wait(5)
        sent.append(("blocking", time.monotonic()))

    try:
        sender.submit("flaky", failing_once)
        wait_until(lambda: len(sent) == 2, timeout=5)
        sender.submit("blocking", blocking)
        wait_until(lambda: sender.attempts == 3)  # busy with "blocking": what comes now waits together
        for _ in range(5):
            sender.submit("kick", lambda connection: sent.append(("kick", time.monotonic())))
        release.set()
        wait_until(lambda: "kick" in [name for name, _ in sent], timeout=5)
        time.sleep(0.2)
    finally:
        sender.close()

    assert [name for name, _ in sent] == ["flaky", "flaky", "blocking", "kick"]
    assert sent[1][1] - sent[0][1] >= 0.3  # the second try waited out the pause


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_forked_child_sends_with_a_thread_of_its_own(redis_broker):
    broker.send_task_soon(record_event_task, args=[1])  # the parent's sender thread runs
    wait_until(lambda: _queued(redis_broker) == 1)

    child = os.fork()
    if child == 0:  # as a gunicorn or Celery pool process forked from a parent that sent before
        try:
            broker.send_task_soon(record_event_task, args=[2])
            time.sleep(3)
        finally:
            os._exit(0)
    os.waitpid(child, 0)

    assert _queued(redis_broker) == 2


@pytest.mark.django_db
@override_settings(OUTBOX_SUBSCRIPTIONS=RECORD)
def test_without_a_broker_the_kick_relays_inline_before_the_caller_goes_on(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = _publish()

    event.refresh_from_db()
    assert event.published_at is not None
    assert effects_of(event.pk) == 1
