"""Reads shared by the scoring doors (services, tasks, the command and the admin)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from django.db.models import Q

from applications.lifecycle import ApplicationStatus
from applications.models import LoanApplication
from loanproject.core.errors import NotFound

from .models import ScoringPolicy

SCORABLE_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.SCORING)


def current_policy() -> ScoringPolicy | None:
    """The active scoring policy, or None before any is published."""
    return ScoringPolicy.objects.filter(is_active=True).first()


def active_policy() -> ScoringPolicy:
    """The active scoring policy; NotFound when there is none (nothing can be scored)."""
    policy = current_policy()
    if policy is None:
        raise NotFound("No active scoring policy: publish one in the admin.", code="no_active_policy")
    return policy


def pending_application_ids(
    *,
    statuses: Sequence[str] = SCORABLE_STATUSES,
    ids: Sequence[UUID | str] | None = None,
    limit: int | None = None,
) -> list[UUID]:
    """Applications in `statuses` (default: waiting for scoring), oldest submission first."""
    queryset = LoanApplication.objects.filter(status__in=list(statuses)).order_by("submitted_at", "pk")
    if ids:
        queryset = queryset.filter(pk__in=list(ids))
    queryset = queryset.values_list("pk", flat=True)
    return list(queryset[:limit] if limit else queryset)


def stalled_application_ids(*, unchanged_since: datetime, limit: int | None = None) -> list[UUID]:
    """Applications still waiting for scoring that nothing has touched since `unchanged_since`:
    their event's consumer failed, found no policy, or their re-score task was lost. Oldest first."""
    queryset = (
        LoanApplication.objects.filter(Q(status__in=list(SCORABLE_STATUSES)) & Q(updated_at__lt=unchanged_since))
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)
    )
    return list(queryset[:limit] if limit else queryset)
