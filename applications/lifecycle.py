"""The status lifecycle of a loan application, in one place.

    submitted ──> scoring ──> pre_approved ──> approved ──> booked
        │            │  │           │              │
        │            │  └─> manual_review ──> approved / rejected
        │            └────> rejected
        └── any open status ──> withdrawn

Re-scoring sends a pre-approved or manual-review application back to scoring. Rejected,
withdrawn and booked are final.
"""

from __future__ import annotations

from django.db import models

from loanproject.core.errors import IllegalTransition


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    SCORING = "scoring", "Scoring"
    PRE_APPROVED = "pre_approved", "Pre-approved"
    MANUAL_REVIEW = "manual_review", "Manual review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    BOOKED = "booked", "Booked"


S = ApplicationStatus


class Decision(models.TextChoices):
    """What scoring or a reviewer decided: each moves the application to the status of its name."""

    PRE_APPROVED = S.PRE_APPROVED.value, S.PRE_APPROVED.label
    MANUAL_REVIEW = S.MANUAL_REVIEW.value, S.MANUAL_REVIEW.label
    APPROVED = S.APPROVED.value, S.APPROVED.label
    REJECTED = S.REJECTED.value, S.REJECTED.label


# Scoring pre-approves, refers or rejects (a scoring run's outcome); only a reviewer approves.
SCORING_DECISIONS = (Decision.PRE_APPROVED, Decision.MANUAL_REVIEW, Decision.REJECTED)
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.SUBMITTED: frozenset({S.SCORING, S.WITHDRAWN}),
    S.SCORING: frozenset({S.PRE_APPROVED, S.MANUAL_REVIEW, S.REJECTED, S.WITHDRAWN}),
    S.PRE_APPROVED: frozenset({S.APPROVED, S.MANUAL_REVIEW, S.SCORING, S.WITHDRAWN}),
    S.MANUAL_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.SCORING, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.BOOKED, S.WITHDRAWN}),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.BOOKED: frozenset(),
}

FINAL_STATUSES = frozenset(status for status, targets in ALLOWED_TRANSITIONS.items() if not targets)
OPEN_STATUSES = frozenset(ApplicationStatus.values) - FINAL_STATUSES


def can_transition(current: str, target: str) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


def ensure_transition(current: str, target: str) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(
            f"An application that is {ApplicationStatus(current).label.lower()} cannot become "
            f"{ApplicationStatus(target).label.lower()}."
        )
