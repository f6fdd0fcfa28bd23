"""The outbox admin never asks its growing tables for their distinct values: the topic and consumer
filters come from settings.OUTBOX_SUBSCRIPTIONS, and the date hierarchy has its index."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loanproject.core.models import IdempotencyKey, OutboxEvent, ProcessedEvent

pytestmark = pytest.mark.django_db
SUBSCRIPTIONS = {"order.placed": ["tests.record_event"], "order.paid": ["tests.record_event", "tests.bill"]}


def changelist(admin_client, model: str, query: str = ""):
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(f"/admin/core/{model}/{query}")
    assert response.status_code == 200
    return response, [q["sql"] for q in captured.captured_queries]


def shown_ids(response) -> list[int]:
    return [obj.pk for obj in response.context["cl"].result_list]


def filter_choices(response, title: str) -> list[str]:
    spec = next(spec for spec in response.context["cl"].filter_specs if spec.title == title)
    return [choice["display"] for choice in spec.choices(response.context["cl"])]


@override_settings(OUTBOX_SUBSCRIPTIONS=SUBSCRIPTIONS)
def test_the_topic_filter_comes_from_the_subscriptions_and_filters(admin_client):
    placed = OutboxEvent.objects.create(topic="order.placed", aggregate_type="tests.Order", aggregate_id="1")
    OutboxEvent.objects.create(topic="order.paid", aggregate_type="tests.Order", aggregate_id="1")

    everything, queries = changelist(admin_client, "outboxevent")
    filtered, _ = changelist(admin_client, "outboxevent", "?topic=order.placed")

    assert filter_choices(everything, "topic") == ["All", "order.paid", "order.placed"]
    assert [sql for sql in queries if "DISTINCT" in sql and ('"topic"' in sql or '"aggregate_type"' in sql)] == []
    assert shown_ids(filtered) == [placed.pk]


@override_settings(OUTBOX_SUBSCRIPTIONS=SUBSCRIPTIONS)
def test_the_consumer_filter_comes_from_the_subscriptions_and_filters(admin_client):
    billed = ProcessedEvent.objects.create(consumer="tests.bill", event_id=1)
    ProcessedEvent.objects.create(consumer="tests.record_event", event_id=1)

    everything, queries = changelist(admin_client, "processedevent")
    filtered, _ = changelist(admin_client, "processedevent", "?consumer=tests.bill")

    assert filter_choices(everything, "consumer") == ["All", "tests.bill", "tests.record_event"]
    assert [sql for sql in queries if "DISTINCT" in sql] == []
    assert shown_ids(filtered) == [billed.pk]


def test_idempotency_keys_filter_by_answer_class_without_a_distinct_scan(admin_client):
    def key(name: str, status: int) -> IdempotencyKey:
        return IdempotencyKey.objects.create(
            scope="partner:1", key=name, request_fingerprint="f", response_status=status
        )

    key("a", 202)
    refused = [key("b", 400), key("c", 409)]

    everything, queries = changelist(admin_client, "idempotencykey")
    filtered, _ = changelist(admin_client, "idempotencykey", "?response=4xx")

    assert [sql for sql in queries if "DISTINCT" in sql] == []
    assert sorted(shown_ids(filtered)) == sorted(k.pk for k in refused)
    assert everything.context["cl"].result_count == 3


def test_the_date_hierarchy_column_is_indexed(admin_client):
    OutboxEvent.objects.create(topic="t", aggregate_type="x", aggregate_id="1", created_at=timezone.now())
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, OutboxEvent._meta.db_table)
        receipt_indexes = connection.introspection.get_constraints(cursor, ProcessedEvent._meta.db_table)

    assert indexes["outbox_created_idx"]["columns"] == ["created_at"]
    assert receipt_indexes["processed_event_processed_idx"]["columns"] == ["processed_at"]
    year = timezone.localdate().year
    assert changelist(admin_client, "outboxevent", f"?created_at__year={year}")[0].context["cl"].result_count == 1


@override_settings(OUTBOX_SUBSCRIPTIONS=SUBSCRIPTIONS, OUTBOX_REDELIVER_AFTER_SECONDS=300, OUTBOX_MAX_REDELIVERIES=5)
def test_staff_find_the_abandoned_events_and_republish_them(admin_client):
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)

    def event(redeliveries: int) -> OutboxEvent:
        return OutboxEvent.objects.create(
            topic="order.placed",
            aggregate_type="tests.Order",
            aggregate_id="1",
            published_at=ten_minutes_ago,
            attempts=redeliveries + 1,
            redeliveries=redeliveries,
        )

    abandoned = event(5)
    redelivered_then_processed = event(2)
    ProcessedEvent.objects.create(consumer="tests.record_event", event_id=redelivered_then_processed.pk)
    event(0)  # never redelivered

    listed, queries = changelist(admin_client, "outboxevent", "?delivery=abandoned")
    redelivered, _ = changelist(admin_client, "outboxevent", "?delivery=redelivered")

    assert shown_ids(listed) == [abandoned.pk]
    assert [sql for sql in queries if '"redeliveries" > 0' in sql]  # the partial index outbox_redelivered_idx
    assert shown_ids(redelivered) == [redelivered_then_processed.pk, abandoned.pk]
    assert "Abandoned: not processed after 5 redeliveries" in filter_choices(listed, "delivery")

    response = admin_client.post(
        "/admin/core/outboxevent/",
        {"action": "republish", "_selected_action": [abandoned.pk, redelivered_then_processed.pk]},
        follow=True,
    )

    assert "1 event(s) will be relayed again" in response.content.decode()
    abandoned.refresh_from_db()
    redelivered_then_processed.refresh_from_db()
    assert (abandoned.published_at, abandoned.redeliveries) == (None, 0)
    assert (redelivered_then_processed.published_at, redelivered_then_processed.redeliveries) == (ten_minutes_ago, 2)
