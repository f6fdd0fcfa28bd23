"""Deliveries lost with the broker come back by themselves.

Partners submit applications; the relay publishes their events; then the broker loses every
message (FLUSHDB) before a worker takes them. With no human action, beat's redelivery sweep
republishes the events no subscriber processed, a real worker scores each application exactly
once (also those the stalled-scoring sweep scored meanwhile) and each customer is told exactly once.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from celery.beat import EmbeddedService
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler
from prometheus_client import REGISTRY

from agents.models import ScoringRun, ScoringTrigger
from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication, Notification
from applications.tests.factories import PartnerFactory, issue_key, pan_for
from applications.tests.payloads import application_payload
from conftest import running_worker, wait_until
from loanproject.core import topics
from loanproject.core.models import OutboxEvent, ProcessedEvent
from loanproject.core.outbox import relay_pending_events

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SCORE = "agents.score_submitted_application"
NOTIFY = "applications.notify_application_decided"


def _submit(client, key: str, n: int) -> str:
    customer = application_payload()["customer"] | {
        "external_ref": f"CUST-{n}",
        "email": f"c{n}@example.com",
        "pan": pan_for(n),
    }
    response = client.post(
        "/api/v1/applications/",
        data=json.dumps(application_payload(external_ref=f"APP-{n}", customer=customer)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 202
    return response.json()["id"]


def _scored(ids: list[str]) -> bool:
    return not LoanApplication.objects.filter(
        pk__in=ids, status__in=[ApplicationStatus.SUBMITTED, ApplicationStatus.SCORING]
    ).exists()


def _republished() -> float:
    return (
        REGISTRY.get_sample_value(
            "outbox_events_republished_total", {"topic": topics.APPLICATION_SUBMITTED, "trigger": "sweep"}
        )
        or 0.0
    )


def test_events_lost_with_the_broker_are_redelivered_and_each_application_is_scored_and_notified_once(
    client, redis_broker, scoring_policy, settings
):
    settings.OUTBOX_REDELIVER_AFTER_SECONDS = 3  # a short bound for the test (default 300)
    settings.CELERY_BEAT_SCHEDULE = {  # beat's entries, ticking faster for the test
        name: {**entry, "schedule": 1.0}
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if name in {"relay-outbox", "redeliver-outbox-events"}
    }
    key = issue_key(PartnerFactory())
    ids = [_submit(client, key, n) for n in range(4)]
    assert relay_pending_events().published == 4  # the relay handed each event to the broker...
    with redis_broker.connection_for_write() as connection:
        connection.default_channel.client.flushdb()  # ...which lost every message before a worker took it
    counted_before = _republished()
    # Meanwhile two applications waited 10 minutes: the stalled-scoring sweep will score them.
    LoanApplication.objects.filter(pk__in=ids[:2]).update(updated_at=timezone.now() - timedelta(minutes=11))

    beat = EmbeddedService(redis_broker, thread=True, scheduler_cls=DatabaseScheduler)
    with running_worker(redis_broker):
        # What beat's agents-score-stalled-applications entry sends every 5 minutes:
        redis_broker.send_task("agents.score_stalled_applications", kwargs={"unchanged_for_minutes": 10})
        wait_until(lambda: _scored(ids[:2]), timeout=30)
        beat.start()
        try:
            wait_until(lambda: _scored(ids), timeout=60)
            wait_until(
                lambda: Notification.objects.filter(application_id__in=ids, status="sent").count() == 8, timeout=60
            )
            time.sleep(4)  # more redelivery ticks: nothing is left to redeliver, nothing happens twice
        finally:
            beat.stop()

    runs = sorted(ScoringRun.objects.filter(application_id__in=ids).values_list("application_id", "trigger"))
    assert runs == sorted(
        [(a, ScoringTrigger.SWEEP) for a in LoanApplication.objects.filter(pk__in=ids[:2]).values_list("pk", flat=True)]
        + [
            (a, ScoringTrigger.SUBMITTED)
            for a in LoanApplication.objects.filter(pk__in=ids[2:]).values_list("pk", flat=True)
        ]
    )
    notified = sorted(
        Notification.objects.filter(application_id__in=ids).values_list(
            "application_id", "channel", "status", "attempts"
        )
    )
    assert notified == sorted(
        (a, channel, "sent", 1)
        for a in LoanApplication.objects.filter(pk__in=ids).values_list("pk", flat=True)
        for channel in ("email", "sms")
    )
    submitted = OutboxEvent.objects.filter(topic=topics.APPLICATION_SUBMITTED)
    assert sorted(submitted.values_list("redeliveries", flat=True)) == [1, 1, 1, 1]
    assert sorted(ProcessedEvent.objects.filter(consumer=SCORE).values_list("event_id", flat=True)) == sorted(
        submitted.values_list("pk", flat=True)
    )  # the two the sweep scored were received and skipped
    decided = OutboxEvent.objects.filter(topic=topics.APPLICATION_DECIDED).values_list("pk", flat=True)
    assert ProcessedEvent.objects.filter(consumer=NOTIFY, event_id__in=list(decided)).count() == len(decided) == 4
    assert _republished() - counted_before == 4
