"""Delinquency of driver loans: days past due, the classes staff configure, and each loan's history.

Imported by models.py (Django finds the models there); the classification itself is
services/delinquency.py, one set-based statement per chunk of loans.

Invariants:
- A `DelinquencyClass` covers a range of days past due, `min_days` to `max_days` (no upper bound
  when empty); `min_days <= max_days` (`delinquency_class_range_ordered`) and no two classes
  overlap (`delinquency_class_ranges_disjoint`, an exclusion constraint on the ranges), so a number
  of days falls in at most one class. Every migrate (and the flush of a test database) creates
  DEFAULT_CLASSES when there is no class at all: current (0), 1-7, 8-30, 31-60, 61-90 and over 90,
  which cover every number of days.
- A loan has at most one `LoanDelinquency` row (its primary key is the loan): the state as of the
  last classification. `days_past_due` is the number of days since `oldest_overdue`, the oldest due
  date among the loan's posted installments with money still outstanding, 0 without one
  (`loan_delinquency_days_match_oldest_due`).
- A `LoanDelinquencyChange` is written in the statement that changes a loan's class (and at its
  first classification), never otherwise: the history has one row per change.
"""

from __future__ import annotations

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils import timezone


class DaysRange(Func):
    """int4range(min_days, max_days + 1): the days a class covers (unbounded above when max is empty)."""

    function = "int4range"
    output_field = models.Field()


class DaysBetween(Func):
    """later - earlier in whole days (PostgreSQL's date minus date is an integer)."""

    template = "(%(expressions)s)"
    arg_joiner = " - "
    output_field = models.IntegerField()


# code, name, from, to (None: no limit).
DEFAULT_CLASSES = [
    ("current", "Current", 0, 0),
    ("1-7", "1-7 days", 1, 7),
    ("8-30", "8-30 days", 8, 30),
    ("31-60", "31-60 days", 31, 60),
    ("61-90", "61-90 days", 61, 90),
    ("90-plus", "Over 90 days", 91, None),
]


class DelinquencyClass(models.Model):
    code = models.SlugField(max_length=20, unique=True, help_text="A short name, e.g. 8-30.")
    name = models.CharField(max_length=60)
    min_days = models.PositiveIntegerField(help_text="Days past due from (inclusive).")
    max_days = models.PositiveIntegerField(null=True, blank=True, help_text="To (inclusive); empty: no limit.")

    class Meta:
        ordering = ["min_days"]
        verbose_name_plural = "delinquency classes"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_days__isnull=True) | Q(min_days__lte=F("max_days")),
                name="delinquency_class_range_ordered",
            ),
            ExclusionConstraint(
                name="delinquency_class_ranges_disjoint",
                expressions=[(DaysRange(F("min_days"), F("max_days") + Value(1)), RangeOperators.OVERLAPS)],
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LoanDelinquency(models.Model):
    loan = models.OneToOneField(
        "loans.DriverLoan", on_delete=models.CASCADE, primary_key=True, related_name="delinquency"
    )
    days_past_due = models.PositiveIntegerField()
    oldest_overdue = models.DateField(
        null=True, blank=True, help_text="The oldest due date with money still outstanding."
    )
    delinquency_class = models.ForeignKey(
        DelinquencyClass, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    as_of = models.DateField(help_text="The day it was classified for.")
    class_since = models.DateField(help_text="The day the loan entered its class.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(oldest_overdue__isnull=True, days_past_due=0)
                | Q(oldest_overdue__isnull=False, days_past_due=DaysBetween(F("as_of"), F("oldest_overdue"))),
                name="loan_delinquency_days_match_oldest_due",
            )
        ]
        indexes = [
            # Filters and the chart by class; the collections view by days past due.
            models.Index(fields=["delinquency_class", "loan"], name="loan_delinquency_class_idx"),
            models.Index(fields=["-days_past_due", "loan"], name="loan_delinquency_days_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id}: {self.days_past_due} days past due"


class LoanDelinquencyChange(models.Model):
    loan = models.ForeignKey("loans.DriverLoan", on_delete=models.CASCADE, related_name="delinquency_changes")
    as_of = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now)
    from_class = models.ForeignKey(DelinquencyClass, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_class = models.ForeignKey(DelinquencyClass, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    days_past_due = models.PositiveIntegerField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["loan", "-id"], name="loan_delinquency_change_idx")]

    def __str__(self) -> str:
        return f"{self.loan_id} on {self.as_of}: {self.from_class_id} -> {self.to_class_id}"
