"""Loan applications.

Invariants:
- Every application carries its customer's partner, so every partner query filters one indexed
  column; a partner reaches only its own applications. On PostgreSQL the database keeps the copy
  exact (migration 0005): the composite foreign key `application_partner_matches_customer`
  (customer, partner) -> customer (id, partner), and, for the NULL partner a foreign key does not
  check, triggers refusing a partner-less application of a partner's customer.
- Money is Decimal(14, 2). An application asks for a positive amount; an approved or booked one
  has an approved amount (named CHECK constraints below).
- `status` changes only through applications.services, along lifecycle.ALLOWED_TRANSITIONS.
  Every change raises `version` by one; a decision made on an older version is refused
  (optimistic locking), so two conflicting decisions cannot both win.
- An approval awaiting confirmation (`proposed_amount`) exists only in manual review.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from loanproject.core.money import MoneyField

from ..lifecycle import ApplicationStatus, Decision
from ..validators import validate_credit_mix, validate_repayment_history
from .customers import Customer
from .partners import Partner


class EmploymentStatus(models.TextChoices):
    EMPLOYED = "employed", "Employed"
    SELF_EMPLOYED = "self_employed", "Self-employed"
    UNEMPLOYED = "unemployed", "Unemployed"
    RETIRED = "retired", "Retired"
    STUDENT = "student", "Student"


class LoanPurpose(models.TextChoices):
    VEHICLE = "vehicle", "Vehicle"
    HOME_IMPROVEMENT = "home_improvement", "Home improvement"
    DEBT_CONSOLIDATION = "debt_consolidation", "Debt consolidation"
    EDUCATION = "education", "Education"
    MEDICAL = "medical", "Medical"
    BUSINESS = "business", "Business"
    PERSONAL = "personal", "Personal"
    OTHER = "other", "Other"


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    VERY_HIGH = "very_high", "Very high"


class LoanApplication(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes on partner, customer and assigned_to: the composite indexes below
    # lead with them, and every status change would otherwise update three redundant indexes.
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="applications", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="applications", db_index=False)
    external_ref = models.CharField(max_length=100, blank=True, help_text="The partner's own id for this application.")

    requested_amount = MoneyField()
    approved_amount = MoneyField(null=True, blank=True)
    term_months = models.PositiveSmallIntegerField(default=36)
    purpose = models.CharField(max_length=30, choices=LoanPurpose.choices)
    interest_rate = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Annual rate, percent."
    )

    annual_income = MoneyField()
    employment_status = models.CharField(max_length=20, choices=EmploymentStatus.choices)
    employment_duration_months = models.PositiveSmallIntegerField(default=0)
    existing_debts = MoneyField(default=0)
    monthly_debt_payments = MoneyField(default=0)

    credit_score = models.PositiveSmallIntegerField(null=True, blank=True)
    total_payments = models.PositiveIntegerField(default=0)
    late_payments = models.PositiveIntegerField(default=0)
    utilization = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, help_text="Credit utilization, percent."
    )
    credit_inquiries = models.PositiveSmallIntegerField(default=0)
    credit_history_months = models.PositiveSmallIntegerField(default=0)
    credit_mix = models.JSONField(default=list, blank=True, validators=[validate_credit_mix])
    repayment_history = models.JSONField(default=list, blank=True, validators=[validate_repayment_history])

    status = models.CharField(max_length=20, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED)
    decision = models.CharField(max_length=20, choices=Decision.choices, blank=True)
    risk_level = models.CharField(max_length=20, choices=RiskLevel.choices, blank=True)
    reasons = models.JSONField(default=list, blank=True, help_text='Stated reasons: [{"code": ..., "text": ...}].')
    conditions = models.JSONField(default=list, blank=True)
    decision_note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="decided_applications"
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="assigned_applications",
        help_text="The reviewer whose queue holds this application.",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    proposed_amount = MoneyField(
        null=True, blank=True, help_text="An approval above the proposer's limit, awaiting confirmation."
    )
    version = models.PositiveIntegerField(default=1)

    submitted_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True, help_text="Scoring finished.")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.CheckConstraint(condition=Q(requested_amount__gt=0), name="application_requested_amount_positive"),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True) | Q(approved_amount__gt=0),
                name="application_approved_amount_positive",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[ApplicationStatus.APPROVED, ApplicationStatus.BOOKED])
                | Q(approved_amount__isnull=False),
                name="application_approved_has_amount",
            ),
            models.CheckConstraint(
                condition=Q(annual_income__gte=0) & Q(existing_debts__gte=0) & Q(monthly_debt_payments__gte=0),
                name="application_money_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(credit_score__isnull=True) | Q(credit_score__gte=300, credit_score__lte=900),
                name="application_credit_score_300_900",
            ),
            models.CheckConstraint(
                condition=Q(utilization__gte=0, utilization__lte=100), name="application_utilization_percent"
            ),
            models.CheckConstraint(
                condition=Q(late_payments__lte=models.F("total_payments")),
                name="application_late_within_total_payments",
            ),
            models.CheckConstraint(
                condition=Q(interest_rate__isnull=True) | Q(interest_rate__gte=0, interest_rate__lte=100),
                name="application_interest_rate_percent",
            ),
            models.CheckConstraint(
                condition=Q(term_months__gte=1, term_months__lte=360), name="application_term_1_360_months"
            ),
            models.CheckConstraint(condition=Q(status__in=ApplicationStatus.values), name="application_status_known"),
            models.CheckConstraint(condition=Q(version__gte=1), name="application_version_positive"),
            models.CheckConstraint(
                condition=Q(proposed_amount__isnull=True)
                | Q(status=ApplicationStatus.MANUAL_REVIEW, proposed_amount__gt=0),
                name="application_proposal_only_in_review",
            ),
            models.UniqueConstraint(
                fields=["partner", "external_ref"],
                condition=~Q(external_ref=""),
                name="application_external_ref_unique_per_partner",
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="application_status_idx"),
            # The default ordering (-submitted_at, then -id as the admin adds), its date hierarchy
            # and its deep pages (an index-only scan of the keys).
            models.Index(fields=["submitted_at", "id"], name="application_submitted_id_idx"),
            # The admin's amount range filter (its count and its page).
            models.Index(fields=["requested_amount"], name="application_requested_idx"),
            # The admin's search by the partner's reference, whatever the partner.
            models.Index(fields=["external_ref"], name="application_external_ref_idx", condition=~Q(external_ref="")),
            # Decision-time reports (the dashboard's approval rate); undecided rows stay out of it.
            models.Index(fields=["decided_at"], name="application_decided_idx", condition=Q(decided_at__isnull=False)),
            # The partner API's cursor orderings: one index per ordering, led by the partner, with
            # the id that breaks ties (core/api/pagination.py). Scanned backwards for descending.
            models.Index(fields=["partner", "submitted_at", "id"], name="application_partner_submitted"),
            models.Index(fields=["partner", "requested_amount", "id"], name="application_partner_amount"),
            models.Index(fields=["partner", "updated_at", "id"], name="application_partner_updated"),
            models.Index(fields=["partner", "status"], name="application_partner_status"),
            # A partner's top customers by approved amount (the API's stats): read from the index
            # alone, already in customer order; only approved and booked rows are in it.
            models.Index(
                fields=["partner", "customer"],
                include=["approved_amount"],
                condition=Q(status__in=[ApplicationStatus.APPROVED, ApplicationStatus.BOOKED]),
                name="application_partner_approved",
            ),
            models.Index(fields=["customer", "status"], name="application_customer_idx"),
            # A reviewer's queue in the admin's order (`?queue=mine`, newest first) and "next in my
            # queue" (a keyset step down it): read in index order, however long the queue. Its
            # prefix serves the officers' loads (assigned_to, status).
            models.Index(fields=["assigned_to", "status", "submitted_at", "id"], name="application_queue_order_idx"),
        ]
        permissions = [
            ("review_loanapplication", "Can decide applications in review"),
            ("rescore_loanapplication", "Can re-score applications"),
        ]

    def __str__(self) -> str:
        return f"Application {str(self.pk)[:8]} ({self.get_status_display()})"
