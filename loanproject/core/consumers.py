"""Idempotent consumers: process each outbox event at most once per consumer.

A consumer's receipt (`ProcessedEvent`) is inserted in the same transaction as its effect. A
second delivery of the same event (the relay's at-least-once, or a worker redelivering after a
crash) finds the receipt and does nothing; a concurrent twin blocks on the unique index until the
first commits and then does nothing; if the first rolled back, the twin does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from celery import Task, shared_task
from django.db import transaction

from .audit import acting_as_system
from .models import OutboxEvent, ProcessedEvent

logger = logging.getLogger(__name__)


def consume_once(*, consumer: str, event_id: int, handle: Callable[[OutboxEvent], object]) -> bool:
    """Run `handle(event)` unless `consumer` already processed `event_id`. True if it ran."""
    with transaction.atomic():
        _, created = ProcessedEvent.objects.get_or_create(consumer=consumer, event_id=event_id)
        if not created:
            logger.info("%s already processed outbox event %s; skipped", consumer, event_id)
            return False
        try:
            event = OutboxEvent.objects.get(pk=event_id)
        except OutboxEvent.DoesNotExist:
            logger.error("%s got unknown outbox event %s; recorded and skipped", consumer, event_id)
            return False
        handle(event)
    return True


def outbox_consumer(name: str, **task_options: Any) -> Callable[[Callable[[OutboxEvent], object]], Task[[int], bool]]:
    """Makes `handle(event)` the Celery task `name`: given an event id, it runs once, as the system user."""

    def register(handle: Callable[[OutboxEvent], object]) -> Task[[int], bool]:
        def consume(event_id: int) -> bool:
            with acting_as_system():
                return consume_once(consumer=name, event_id=event_id, handle=handle)

        consume.__doc__, consume.__name__ = handle.__doc__, handle.__name__
        # The options pass through, so mypy cannot pick shared_task's overload: name its result.
        make_task = cast(Callable[[Callable[[int], bool]], Task[[int], bool]], shared_task(name=name, **task_options))
        return make_task(consume)

    return register
