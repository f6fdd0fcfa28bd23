"""The nightly purge: old published events, receipts and idempotency keys go; unpublished events
and anything recent stay. Exact rows, exact counts."""

import json
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from loanproject.core.errors import DomainError
from loanproject.core.models import IdempotencyKey, OutboxEvent, ProcessedEvent
from loanproject.core.retention import purge_old_outbox_records
from loanproject.core.tasks import purge_outbox_records_task

pytestmark = pytest.mark.django_db
MONTH, WEEK = timedelta(days=30), timedelta(days=7)


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def event(name: str, *, created: float, published: float | None) -> OutboxEvent:
    return OutboxEvent.objects.create(
        topic="t",
        aggregate_type="x",
        aggregate_id=name,
        created_at=days_ago(created),
        published_at=None if published is None else days_ago(published),
    )


GONE_EVENT_IDS = (10**12 + 1, 10**12 + 2)  # receipts of events purged in an earlier night
RECENT_RECEIPT_EVENT_ID = 10**12 + 3


@pytest.fixture
def records():
    """Two of each kind that must go, and every kind that must stay."""
    late = event("published-late", created=40, published=2)  # backed off for weeks, delivered lately
    return {
        "old_published": [event("old-1", created=40, published=40), event("old-2", created=31, published=30.9)],
        "kept_events": [
            event("unpublished-old", created=90, published=None),
            late,
            event("recent", created=10, published=10),
        ],
        "old_receipts": [
            ProcessedEvent.objects.create(consumer="c", event_id=n, processed_at=days_ago(31)) for n in GONE_EVENT_IDS
        ],
        "kept_receipts": [
            ProcessedEvent.objects.create(consumer="c", event_id=RECENT_RECEIPT_EVENT_ID, processed_at=days_ago(29)),
            # Old, but its event is still there (it could be republished): the receipt stays with it.
            ProcessedEvent.objects.create(consumer="c", event_id=late.pk, processed_at=days_ago(35)),
        ],
        "old_keys": [
            IdempotencyKey.objects.create(
                scope="partner:1", key=f"k{n}", request_fingerprint="f", response_status=202, created_at=days_ago(8)
            )
            for n in (1, 2)
        ],
        "kept_keys": [
            IdempotencyKey.objects.create(
                scope="partner:1", key="fresh", request_fingerprint="f", response_status=202, created_at=days_ago(6)
            )
        ],
    }


def remaining() -> tuple[list, list, list]:
    return (
        sorted(OutboxEvent.objects.values_list("aggregate_id", flat=True)),
        sorted(ProcessedEvent.objects.values_list("event_id", flat=True)),
        sorted(IdempotencyKey.objects.values_list("key", flat=True)),
    )


def kept() -> tuple[list, list, list]:
    late = OutboxEvent.objects.get(aggregate_id="published-late").pk
    return (["published-late", "recent", "unpublished-old"], sorted([late, RECENT_RECEIPT_EVENT_ID]), ["fresh"])


def test_old_published_events_receipts_and_keys_go_the_rest_stays(records):
    planned, chunks = [], []

    report = purge_old_outbox_records(
        older_than=MONTH,
        idempotency_keys_older_than=WEEK,
        batch_size=1,
        on_plan=planned.append,
        on_progress=chunks.append,
    )

    assert report.deleted == {"outbox_events": 2, "processed_events": 2, "idempotency_keys": 2}
    assert (report.total, report.dry_run) == (6, False)
    assert remaining() == kept()
    assert (planned, chunks) == ([6], [1, 1, 1, 1, 1, 1])  # one transaction per row at batch size 1


def test_a_second_purge_deletes_nothing(records):
    purge_old_outbox_records(older_than=MONTH, idempotency_keys_older_than=WEEK)

    again = purge_old_outbox_records(older_than=MONTH, idempotency_keys_older_than=WEEK)

    assert again.deleted == {"outbox_events": 0, "processed_events": 0, "idempotency_keys": 0}
    assert remaining() == kept()


def test_a_dry_run_counts_and_deletes_nothing(records):
    before = remaining()

    report = purge_old_outbox_records(older_than=MONTH, idempotency_keys_older_than=WEEK, dry_run=True)

    assert report.deleted == {"outbox_events": 2, "processed_events": 2, "idempotency_keys": 2}
    assert report.dry_run is True
    assert remaining() == before


@pytest.mark.parametrize("older_than, keys_older_than", [(timedelta(0), WEEK), (MONTH, -WEEK)])
def test_a_retention_that_is_not_positive_is_refused_and_nothing_goes(records, older_than, keys_older_than):
    before = remaining()

    with pytest.raises(DomainError, match="must be positive"):
        purge_old_outbox_records(older_than=older_than, idempotency_keys_older_than=keys_older_than)

    assert remaining() == before


def test_the_command_reports_json(records, capsys):
    call_command("purge_outbox", "--json", "--outbox-days", "30", "--idempotency-key-days", "7")

    report = json.loads(capsys.readouterr().out)
    assert (report["deleted"], report["total"], report["dry_run"]) == (
        {"outbox_events": 2, "processed_events": 2, "idempotency_keys": 2},
        6,
        False,
    )
    assert remaining() == kept()


def test_the_command_shows_a_progress_bar_and_a_summary(records, capsys, settings):
    settings.OUTBOX_RETENTION_DAYS, settings.IDEMPOTENCY_KEY_RETENTION_DAYS = 30, 7

    call_command("purge_outbox", "--batch-size", "2")

    out, err = capsys.readouterr()
    assert "outbox events: deleted 2\nprocessed events: deleted 2\nidempotency keys: deleted 2\n" in out
    assert "deleted 6 row(s)" in out
    assert "purging" in err and "6/6" in err
    assert remaining() == kept()


def test_the_command_dry_run_deletes_nothing(records, capsys):
    before = remaining()

    call_command("purge_outbox", "--dry-run")

    assert "would delete 6 row(s)" in capsys.readouterr().out
    assert remaining() == before


@pytest.mark.parametrize(
    "args",
    [["--outbox-days", "0"], ["--idempotency-key-days", "-1"], ["--outbox-days", "100000000"], ["--batch-size", "0"]],
)
def test_the_command_refuses_bad_options_with_a_clear_error(records, args):
    before = remaining()

    with pytest.raises(CommandError) as refused:
        call_command("purge_outbox", *args)

    assert str(refused.value) in {
        "Retention must be from 1 to 36,500 days (--outbox-days, --idempotency-key-days)",
        "The batch size must be at least 1.",
    }
    assert remaining() == before


def test_the_nightly_task_uses_the_retention_settings(records, settings):
    settings.OUTBOX_RETENTION_DAYS, settings.IDEMPOTENCY_KEY_RETENTION_DAYS = 35, 7

    result = purge_outbox_records_task.apply().get()

    assert result["deleted"] == {"outbox_events": 1, "processed_events": 0, "idempotency_keys": 2}
    assert remaining()[0] == ["old-2", "published-late", "recent", "unpublished-old"]


def test_beat_runs_the_purge_every_night_at_3_15():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-outbox-records"]

    assert entry["task"] == purge_outbox_records_task.name == "core.purge_outbox_records"
    assert entry["schedule"] == crontab(hour=3, minute=15)


def test_relay_outbox_reports_progress_per_batch(capsys):
    for n in range(3):
        OutboxEvent.objects.create(topic="nobody.listens", aggregate_type="x", aggregate_id=str(n))

    call_command("relay_outbox", "--batch-size", "1")

    out, err = capsys.readouterr()
    assert out == "published 3, failed 0, still pending 0\n"
    assert "relaying" in err and "3/3" in err
