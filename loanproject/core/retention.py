"""Retention of the outbox's bookkeeping: published events, consumer receipts and idempotency keys
are deleted once they are old enough to be of no further use.

- A published event older than OUTBOX_RETENTION_DAYS has been relayed long ago; unpublished events
  are never deleted, however old (the relay still owes them a delivery).
- A consumer receipt older than OUTBOX_RETENTION_DAYS guards against a redelivery that can no
  longer happen (the broker redelivers within CELERY_VISIBILITY_TIMEOUT, hours).
- An idempotency key older than IDEMPOTENCY_KEY_RETENTION_DAYS no longer replays: a client that
  retries later than that gets a new effect. Keep the setting above the longest retry window of
  any partner.

Deletes run in chunks, each chunk its own transaction, so no lock is held for long and a killed
purge loses nothing: running it again finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .errors import DomainError
from .models import IdempotencyKey, OutboxEvent, ProcessedEvent

DEFAULT_BATCH_SIZE = 5000


@dataclass
class PurgeReport:
    dry_run: bool
    outbox_cutoff: str
    idempotency_key_cutoff: str
    # table -> rows deleted (or, in a dry run, rows that would be)
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "outbox_cutoff": self.outbox_cutoff,
            "idempotency_key_cutoff": self.idempotency_key_cutoff,
            "deleted": self.deleted,
            "total": self.total,
        }


def _purgeable(
    *, older_than: timedelta, idempotency_keys_older_than: timedelta, now: datetime
) -> dict[str, QuerySet[Any]]:
    outbox_cutoff = now - older_than
    return {
        # created_at leads (outbox_created_idx); published_at keeps every undelivered event.
        "outbox_events": OutboxEvent.objects.filter(
            Q(created_at__lt=outbox_cutoff) & Q(published_at__lt=outbox_cutoff)
        ),
        # A receipt goes only with its event: while the event exists (it may be republished) the
        # receipt is what keeps its consumers from processing it twice.
        "processed_events": ProcessedEvent.objects.filter(processed_at__lt=outbox_cutoff).exclude(
            Exists(OutboxEvent.objects.filter(pk=OuterRef("event_id")))
        ),
        "idempotency_keys": IdempotencyKey.objects.filter(created_at__lt=now - idempotency_keys_older_than),
    }


def _delete_in_chunks(queryset: QuerySet[Any], *, batch_size: int, on_progress: Callable[[int], object] | None) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            # The conditions again: a row that changed since it was read is not deleted.
            count, _ = queryset.filter(pk__in=ids).delete()
        deleted += count
        if on_progress is not None:
            on_progress(count)


def purge_old_outbox_records(
    *,
    older_than: timedelta,
    idempotency_keys_older_than: timedelta | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    on_plan: Callable[[int], object] | None = None,
    on_progress: Callable[[int], object] | None = None,
) -> PurgeReport:
    """Delete published outbox events and consumer receipts older than `older_than`, and
    idempotency keys older than `idempotency_keys_older_than` (default: `older_than`).

    `on_plan(total)` is called once with the number of rows to delete, `on_progress(n)` after
    each chunk (progress bars). A dry run only counts.
    """
    keys_older_than = older_than if idempotency_keys_older_than is None else idempotency_keys_older_than
    if older_than <= timedelta(0) or keys_older_than <= timedelta(0):
        raise DomainError("Retention periods must be positive.", code="invalid_retention")
    if batch_size < 1:
        raise DomainError("The batch size must be at least 1.", code="invalid_batch_size")
    now = timezone.now()
    targets = _purgeable(older_than=older_than, idempotency_keys_older_than=keys_older_than, now=now)
    report = PurgeReport(
        dry_run=dry_run,
        outbox_cutoff=(now - older_than).isoformat(),
        idempotency_key_cutoff=(now - keys_older_than).isoformat(),
    )
    counts = {name: queryset.count() for name, queryset in targets.items()}
    if on_plan is not None:
        on_plan(sum(counts.values()))
    if dry_run:
        report.deleted = counts
        return report
    for name, queryset in targets.items():
        report.deleted[name] = _delete_in_chunks(queryset, batch_size=batch_size, on_progress=on_progress)
    return report
