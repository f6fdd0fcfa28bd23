"""Consumers used by the outbox tests. Their effect is a row, so "processed once" is countable."""

from celery import shared_task

from loanproject.core.consumers import consume_once
from loanproject.core.models import OutboxEvent

EFFECT_TOPIC = "tests.effect"
FAILURES = {"remaining": 0}


def _record_effect(event: OutboxEvent) -> None:
    OutboxEvent.objects.create(topic=EFFECT_TOPIC, aggregate_type="tests", aggregate_id=str(event.pk), payload={})


@shared_task(name="tests.record_event")
def record_event_task(event_id: int) -> bool:
    return consume_once(consumer="tests.record_event", event_id=event_id, handle=_record_effect)


def _flaky(event: OutboxEvent) -> None:
    if FAILURES["remaining"] > 0:
        FAILURES["remaining"] -= 1
        raise RuntimeError("consumer is down")
    _record_effect(event)


@shared_task(name="tests.flaky_consumer")
def flaky_consumer_task(event_id: int) -> bool:
    return consume_once(consumer="tests.flaky_consumer", event_id=event_id, handle=_flaky)


def effects_of(event_id: int) -> int:
    return OutboxEvent.objects.filter(topic=EFFECT_TOPIC, aggregate_id=str(event_id)).count()


@shared_task(name="tests.lost_message")
def lost_message_task(event_id: int) -> None:
    """A subscriber whose message never gets processed: lost with the broker, or a consumer that
    fails every time. It records no receipt."""
