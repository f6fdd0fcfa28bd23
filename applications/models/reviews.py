"""Reviewers and their decisions on applications in manual review.

Invariants:
- A reviewer is a staff user with one role (officer or manager), an approval limit and a
  capacity; a manager is never their own manager (`reviewer_not_own_manager`).
- Authority (creating a reviewer; role, approval limit and manager; switching a reviewer back on)
  changes only through applications.services, for a holder of `manage_reviewer_authority`, never
  on one's own record nor inside one's own reporting line (services/reviews.py says why).
- One decision per application version (`one_review_decision_per_version`): two reviewers who
  read the same version cannot both decide, even if the row lock were bypassed.
- An approval above the deciding reviewer's limit is a proposal: the application waits for a
  reviewer with a high enough limit, who must not have proposed it (four eyes).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from loanproject.core.money import MoneyField

from .applications import LoanApplication


class ReviewerRole(models.TextChoices):
    OFFICER = "officer", "Loan officer"
    MANAGER = "manager", "Loan manager"


class Reviewer(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviewer")
    role = models.CharField(max_length=10, choices=ReviewerRole.choices)
    manager = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="team",
        help_text="Approvals above this reviewer's limit go to the manager.",
    )
    approval_limit = MoneyField(help_text="Largest amount this reviewer approves alone.")
    capacity = models.PositiveSmallIntegerField(
        default=25, help_text="Most applications in review assigned to them at once."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["user__username"]
        permissions = [("manage_reviewer_authority", "Can set reviewers' approval limits, roles and managers")]
        constraints = [
            models.CheckConstraint(condition=Q(approval_limit__gte=0), name="reviewer_limit_non_negative"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="reviewer_capacity_positive"),
            models.CheckConstraint(condition=~Q(manager=F("pk")), name="reviewer_not_own_manager"),
            models.CheckConstraint(condition=Q(role__in=ReviewerRole.values), name="reviewer_role_known"),
        ]

    def __str__(self) -> str:
        return f"{self.user.get_full_name() or self.user.get_username()} ({self.get_role_display()})"


class ReviewOutcome(models.TextChoices):
    APPROVED = "approved", "Approved"
    PROPOSED = "proposed", "Approval proposed (above limit)"
    REJECTED = "rejected", "Rejected"


class ReviewDecision(models.Model):
    application = models.ForeignKey(LoanApplication, on_delete=models.PROTECT, related_name="review_decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    outcome = models.CharField(max_length=10, choices=ReviewOutcome.choices)
    amount = MoneyField(null=True, blank=True)
    comment = models.TextField(blank=True)
    reasons = models.JSONField(default=list, blank=True)
    application_version = models.PositiveIntegerField(help_text="The version the reviewer decided on.")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["application", "application_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "application_version"], name="one_review_decision_per_version"
            ),
            models.CheckConstraint(
                condition=Q(outcome="rejected") | Q(amount__gt=0), name="review_approval_has_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} by {self.reviewer} on v{self.application_version}"
