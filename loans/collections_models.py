"""Collections: the queue of delinquent drivers, their collectors, notes and promises to pay.

Imported by models.py (Django finds the models there); the services are services/collections.py.

Invariants:
- A driver has at most one `CollectionCase` (its primary key is the driver): the driver's state
  in the queue as of the last refresh, derived from rows and written set-based, never kept by
  deltas. `days_past_due` is the largest of the driver's loans' days past due (LoanDelinquency),
  `overdue_amount` what is outstanding on the driver's LOANS open items due before `as_of`
  (never negative: `collection_case_amount_not_negative`), `delinquency_class` the class of those
  days. The driver is in the queue (delinquent) exactly while `days_past_due > 0`; a case is made
  the first time a driver is delinquent and stays (with its collector, notes, promises) after.
- A case's collector and who assigned them and when go together: all set or all empty
  (`collection_case_assignment_complete`).
- A `CollectionNote` is never changed or deleted: a trigger refuses UPDATE and DELETE
  (migration 0011), so the notes are the record of what was said.
- A `PromiseToPay` promises a positive amount (`promise_to_pay_amount_positive`) by a day not
  before the day it was taken (`promise_to_pay_due_not_before_taken`). Its status is open until
  the nightly job settles it, then kept or broken with the day it was settled and the amount found
  paid (`promise_to_pay_settled_when_closed`, `promise_to_pay_status_known`). Kept: the driver's
  payments (unreversed ledger payments, entry dates from `taken_on` to `promised_for` inclusive)
  total at least the amount; broken: the day after `promised_for` came with less.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from loanproject.core.money import MoneyField

DELINQUENT = Q(days_past_due__gt=0)
# The permission that makes a staff member someone a driver can be assigned to (the Collector role).
COLLECTOR_PERMISSION = "loans.work_collection_cases"
# Whoever assigns collectors (Finance) works every driver; a collector only those assigned to them.
ASSIGNER_PERMISSION = "loans.assign_collector"


class CollectionCase(models.Model):
    driver = models.OneToOneField(
        "loans.Driver", on_delete=models.PROTECT, primary_key=True, related_name="collection_case"
    )
    days_past_due = models.PositiveIntegerField(help_text="The largest days past due of the driver's loans.")
    overdue_amount = MoneyField(help_text="Outstanding on the driver's LOANS open items due before the day.")
    delinquency_class = models.ForeignKey(
        "loans.DelinquencyClass", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    as_of = models.DateField(help_text="The day of the last refresh.")
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="collection_cases",
        db_index=False,  # the queue's collector index below starts with it
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-overdue_amount", "-driver"]
        permissions = [
            ("assign_collector", "Can assign delinquent drivers to collectors"),
            ("work_collection_cases", "Can be assigned delinquent drivers (a collector)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(overdue_amount__gte=0), name="collection_case_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(collector__isnull=True, assigned_at__isnull=True, assigned_by__isnull=True)
                | Q(collector__isnull=False, assigned_at__isnull=False, assigned_by__isnull=False),
                name="collection_case_assignment_complete",
            ),
        ]
        indexes = [
            # The queue (delinquent drivers only) by amount or by days, each with the driver as
            # tiebreaker: one index range scan per page (admin and API keyset), whatever the depth.
            models.Index(fields=["overdue_amount", "driver"], name="collection_queue_amount_idx", condition=DELINQUENT),
            models.Index(fields=["days_past_due", "driver"], name="collection_queue_days_idx", condition=DELINQUENT),
            # A collector's queue and a class's queue, by amount.
            models.Index(
                fields=["collector", "overdue_amount", "driver"],
                name="collection_queue_collector_idx",
                condition=DELINQUENT,
            ),
            models.Index(
                fields=["delinquency_class", "overdue_amount", "driver"],
                name="collection_queue_class_idx",
                condition=DELINQUENT,
            ),
        ]

    def __str__(self) -> str:
        return f"Collections of driver {self.driver_id}"


class CollectionNote(models.Model):
    driver = models.ForeignKey("loans.Driver", on_delete=models.PROTECT, related_name="collection_notes")
    body = models.TextField(max_length=4000)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["driver", "id"], name="collection_note_driver_idx")]

    def __str__(self) -> str:
        return f"Note #{self.pk} on driver {self.driver_id}"


class PromiseStatus(models.TextChoices):
    OPEN = "open", "Open"
    KEPT = "kept", "Kept"
    BROKEN = "broken", "Broken"


class PromiseToPay(models.Model):
    driver = models.ForeignKey("loans.Driver", on_delete=models.PROTECT, related_name="promises_to_pay")
    amount = MoneyField()
    promised_for = models.DateField(help_text="The day by which the driver promised to pay.")
    taken_on = models.DateField(help_text="The day the promise was made; payments count from it.")
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    taken_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=PromiseStatus.choices, default=PromiseStatus.OPEN)
    settled_on = models.DateField(null=True, blank=True, help_text="The day the nightly job found it kept or broken.")
    paid_amount = MoneyField(null=True, blank=True, help_text="What the driver had paid by then.")

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "promises to pay"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="promise_to_pay_amount_positive"),
            models.CheckConstraint(
                condition=Q(promised_for__gte=models.F("taken_on")), name="promise_to_pay_due_not_before_taken"
            ),
            models.CheckConstraint(condition=Q(status__in=PromiseStatus.values), name="promise_to_pay_status_known"),
            models.CheckConstraint(
                condition=Q(status=PromiseStatus.OPEN, settled_on__isnull=True, paid_amount__isnull=True)
                | (~Q(status=PromiseStatus.OPEN) & Q(settled_on__isnull=False, paid_amount__isnull=False)),
                name="promise_to_pay_settled_when_closed",
            ),
        ]
        indexes = [
            models.Index(fields=["driver", "id"], name="promise_to_pay_driver_idx"),
            # The nightly settlement walks the open promises only.
            models.Index(fields=["id"], name="promise_to_pay_open_idx", condition=Q(status=PromiseStatus.OPEN)),
        ]

    def __str__(self) -> str:
        return f"{self.amount} by {self.promised_for} ({self.status})"
