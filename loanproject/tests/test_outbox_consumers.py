"""Every subscribed consumer records its receipt, under its subscription's name, also when it
decides there is nothing to do: the redelivery sweep republishes any published event that a
subscriber has no receipt for, so a consumer that forgot would get its events again and again."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from loanproject.core import topics
from loanproject.core.models import OutboxEvent, ProcessedEvent
from loanproject.core.outbox import subscriber_task, unprocessed_events
from loans.tests.factories import make_loan

pytestmark = pytest.mark.django_db


def _booked_for_a_driver_without_a_customer() -> dict:
    """The payload booking really sends when the driver has no customer record (nobody to tell)."""
    loan = make_loan()
    return OutboxEvent.objects.get(topic=topics.LOAN_BOOKED, aggregate_id=str(loan.pk)).payload


# topic -> the payload of an event its consumers have nothing to do for (every subscribed topic)
NOTHING_TO_DO = {
    topics.APPLICATION_SUBMITTED: lambda: {
        "application_id": str(uuid.uuid4())
    },  # no such application (or scored already)
    topics.APPLICATION_DECIDED: lambda: {"application_id": str(uuid.uuid4()), "status": "submitted"},  # nothing to tell
    topics.LOAN_BOOKED: _booked_for_a_driver_without_a_customer,
    topics.LEDGER_PAYMENT_RECORDED: lambda: {"party_type": "supplier", "party_id": "1"},  # not a driver
    topics.LEDGER_ENTRY_REVERSED: lambda: {"parties": []},
}


def test_every_subscribed_topic_has_a_case_here():
    assert set(NOTHING_TO_DO) == {topic for topic, consumers in settings.OUTBOX_SUBSCRIPTIONS.items() if consumers}


@pytest.mark.parametrize(
    "topic, consumer",
    [(topic, consumer) for topic, consumers in settings.OUTBOX_SUBSCRIPTIONS.items() for consumer in consumers],
)
def test_a_consumer_with_nothing_to_do_still_records_its_receipt(topic, consumer):
    event = OutboxEvent.objects.create(
        topic=topic,
        aggregate_type="tests",
        aggregate_id="1",
        payload=NOTHING_TO_DO[topic](),
        published_at=timezone.now(),
    )

    subscriber_task(consumer).apply(args=[event.pk]).get()

    assert list(ProcessedEvent.objects.filter(event_id=event.pk).values_list("consumer", flat=True)) == [consumer]
    assert not unprocessed_events().filter(pk=event.pk).exists()
