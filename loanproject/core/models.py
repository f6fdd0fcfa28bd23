"""Outbox, consumer receipts and request idempotency.

Invariants:
- An `OutboxEvent` is written in the same transaction as the business change it announces, so an
  event exists if and only if its change committed. The relay publishes it at least once; it is
  never deleted before `published_at` is set.
- `ProcessedEvent` has one row per (consumer, event): a consumer records its receipt in the same
  transaction as its effect (or as its decision that there is nothing to do), so a redelivered
  event is processed at most once per consumer (unique constraint `processed_event_once_per_consumer`).
- A published event that a subscriber of its topic has no receipt for after
  OUTBOX_REDELIVER_AFTER_SECONDS is published again by beat's sweep (its message was lost with the
  broker), each time waiting twice as long, at most OUTBOX_MAX_REDELIVERIES times: `redeliveries`
  counts those automatic republications (an operator's republication resets it).
- `IdempotencyKey` has one row per (scope, key): the stored response is written in the same
  transaction as the effect, so a replayed request returns the first answer and never repeats it.
- An `ExportJob` (a large report file built by a worker, export_jobs.py) is `done` if and only if
  it has its file and its finish time, `failed` if and only if it says why and when; `rows_done`
  never exceeds a known `rows_total`. `attempt` counts the claims of a worker: only the worker
  holding the current attempt may write progress or finish it, so a job taken over by the recovery
  sweep is never finished twice.
- An `ApprovalRequest` (maker-checker, approvals.py) is decided by someone other than its
  requester (`approval_decider_is_not_requester`); it has a decider and a decision time exactly
  when approved or rejected, a decision time alone when cancelled, neither while pending or when
  its requester acted alone under the action's threshold (`approval_decision_matches_status`); it
  states a reason (`approval_reason_given`); at most one request per action and target waits at a
  time (`approval_one_pending_per_target`). An approved or direct request ran its action in the
  transaction that recorded the decision: the status and the action's effect commit together.
- An `ApprovalThreshold` is not negative (`approval_threshold_not_negative`).
- Retention (`retention.purge_old_outbox_records`, nightly): published events and receipts older
  than OUTBOX_RETENTION_DAYS and keys older than IDEMPOTENCY_KEY_RETENTION_DAYS are deleted;
  an unpublished event is never deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import audit
from .money import MoneyField


class OutboxEvent(models.Model):
    topic = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(
        default=timezone.now, help_text="Not published before this time (retry backoff)."
    )
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # db_default: rows written by COPY with their own column list (publish_events) get 0 too.
    redeliveries = models.PositiveIntegerField(
        default=0,
        db_default=0,
        help_text="Times the redelivery sweep published it again because a subscriber had not processed it.",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's scan: only unpublished rows, oldest available first.
            models.Index(
                fields=["available_at", "id"], name="outbox_pending_idx", condition=Q(published_at__isnull=True)
            ),
            models.Index(fields=["aggregate_type", "aggregate_id"], name="outbox_aggregate_idx"),
            models.Index(fields=["topic", "created_at"], name="outbox_topic_created_idx"),
            # The admin's date hierarchy (first/last date) and the purge of old published events.
            models.Index(fields=["created_at"], name="outbox_created_idx"),
            # The redelivery sweep's window and --republish-since: a range of publication times.
            models.Index(fields=["published_at"], name="outbox_published_idx"),
            # The few events ever redelivered: the admin's filters and the abandoned-events gauge.
            models.Index(fields=["id"], name="outbox_redelivered_idx", condition=Q(redeliveries__gt=0)),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.topic} {self.aggregate_type}:{self.aggregate_id}"


class ProcessedEvent(models.Model):
    consumer = models.CharField(max_length=150)
    event_id = models.BigIntegerField()
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="processed_event_once_per_consumer")
        ]
        indexes = [
            models.Index(fields=["event_id"], name="processed_event_event_idx"),
            models.Index(fields=["processed_at"], name="processed_event_processed_idx"),  # the purge
        ]

    def __str__(self) -> str:
        return f"{self.consumer} processed event #{self.event_id}"


class IdempotencyKey(models.Model):
    scope = models.CharField(max_length=100, help_text="Whose key it is, e.g. partner:12.")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(default=dict)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique_in_scope")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def export_storage() -> Storage:
    """STORAGES["exports"]: private (no URL serves it; a view checks who may download)."""
    return storages["exports"]


class ExportJob(models.Model):
    """A report file a worker builds (export_jobs.build_export): who asked, for what, how far."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    report = models.CharField(max_length=100, help_text="The registered export, e.g. loans.unposted.")
    parameters = models.JSONField(default=dict, blank=True, help_text="The report's query, as the requester gave it.")
    format = models.CharField(max_length=10, default="xlsx")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(null=True, blank=True, help_text="Counted when the build starts.")
    attempt = models.PositiveSmallIntegerField(default=0, help_text="Builds started (a lost worker's is taken over).")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="The building worker's last progress.")
    file = models.FileField(storage=export_storage, upload_to="exports/%Y/%m/", max_length=300, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExportStatus.values), name="export_job_status_known"),
            models.CheckConstraint(
                condition=~Q(status=ExportStatus.DONE) | (~Q(file="") & Q(finished_at__isnull=False)),
                name="export_job_done_has_file",
            ),
            models.CheckConstraint(
                condition=~Q(status=ExportStatus.FAILED) | (~Q(error="") & Q(finished_at__isnull=False)),
                name="export_job_failed_says_why",
            ),
            models.CheckConstraint(
                condition=Q(rows_total__isnull=True) | Q(rows_done__lte=models.F("rows_total")),
                name="export_job_progress_within_total",
            ),
        ]
        indexes = [
            # The recovery sweep reads the unfinished jobs only.
            models.Index(
                fields=["status", "heartbeat_at"],
                name="export_job_unfinished_idx",
                condition=Q(status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]),
            ),
            models.Index(fields=["requested_by", "-id"], name="export_job_requester_idx"),
        ]

    def __str__(self) -> str:
        return f"Export #{self.pk} {self.report} ({self.status})"

    @property
    def percent(self) -> int | None:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return None
        return min(100, self.rows_done * 100 // self.rows_total)


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a second person"
    APPROVED = "approved", "Approved (done)"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Withdrawn by the requester"
    DIRECT = "direct", "Done alone (under the threshold)"


class ApprovalRequest(models.Model):
    """A money action one person asked for and a second person approves (approvals.py)."""

    action = models.CharField(max_length=60, help_text="The registered action, e.g. ledger.reverse_payment.")
    target = models.CharField(max_length=100, help_text="What it acts on, e.g. ledger.entry:42.")
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text="The action's arguments.")
    amount = MoneyField(null=True, blank=True, help_text="The money at stake, compared with the threshold.")
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    result = models.JSONField(encoder=DjangoJSONEncoder, null=True, blank=True, help_text="What the action did.")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ApprovalStatus.values), name="approval_status_known"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="approval_decider_is_not_requester",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        status__in=[ApprovalStatus.PENDING, ApprovalStatus.DIRECT],
                        decided_by__isnull=True,
                        decided_at__isnull=True,
                    )
                    | Q(
                        status__in=[ApprovalStatus.APPROVED, ApprovalStatus.REJECTED],
                        decided_by__isnull=False,
                        decided_at__isnull=False,
                    )
                    | Q(status=ApprovalStatus.CANCELLED, decided_by__isnull=True, decided_at__isnull=False)
                ),
                name="approval_decision_matches_status",
            ),
            models.CheckConstraint(condition=~Q(reason__regex=r"^\s*$"), name="approval_reason_given"),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="approval_amount_not_negative"
            ),
            models.UniqueConstraint(
                fields=["action", "target"],
                condition=Q(status=ApprovalStatus.PENDING),
                name="approval_one_pending_per_target",
            ),
        ]
        indexes = [
            # The queue: what waits, oldest first.
            models.Index(
                fields=["requested_at", "id"], name="approval_pending_idx", condition=Q(status=ApprovalStatus.PENDING)
            ),
            models.Index(fields=["requested_by", "-id"], name="approval_requester_idx"),
        ]

    def __str__(self) -> str:
        return f"Request #{self.pk} {self.action} {self.target} ({self.status})"


class ApprovalThreshold(models.Model):
    """Below `direct_limit` the requester of `action` acts alone (audited as such); from it up, a
    second person approves. An action without a row always needs a second person."""

    action = models.CharField(max_length=60, primary_key=True)
    direct_limit = MoneyField(help_text="Amounts strictly below this need no second person (0: always needed).")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(direct_limit__gte=0), name="approval_threshold_not_negative")]

    def __str__(self) -> str:
        return f"{self.action} alone below {self.direct_limit}"


audit.register(ApprovalRequest)
audit.register(ApprovalThreshold)
